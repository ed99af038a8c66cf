"""Versioned SavedModels in TF Serving's layout, written so no one sees half of one.

    <export_dir>/          the model base path TF Serving is pointed at
      1/ 2/ 3/ ...         one SavedModel per export; the server loads the highest

A new version is written with Keras 3's ``ExportArchive`` (what ``model.export`` uses,
here with the signatures of ``signatures.py``) into a hidden temporary folder
beside the target and renamed to its number only once complete: a rename within one
file system is atomic, so a server polling ``<export_dir>`` sees either no new version or
a whole one. An existing version is never overwritten. Each version carries TF Serving's
warm-up file (``assets.extra/tf_serving_warmup_requests``, ``warmup.py``).

Before the rename, the constants that each function of the SavedModel holds more than
once are merged into one (``merge_duplicate_constants``): the digit-finder's slices and
arithmetic trace thousands of constants, most of them repeats (3,499 Const nodes in an
export's functions, 738 distinct), and every node a function holds is read, converted
and optimised when a server first calls it.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from tensorflow.core.framework import function_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model import fingerprinting_utils

from mnist_convnet import files, versions
from mnist_convnet.export import signatures, warmup


def export_saved_model(model: keras.Model, export_dir: str | os.PathLike) -> Path:
    """Exports ``model`` as the next version under ``export_dir``; returns its folder.

    Signatures (see ``signatures.py``): ``serving_default`` takes uint8 pixels,
    ``serving_images`` encoded photos/scans/drawings of one digit, ``serving_number``
    the same of a row of digits, ``serving_float`` float32 images in [0, 1].
    """
    base = files.writable_dir(export_dir, "export dir")
    try:
        with files.staging(base, ".export-") as staging:
            with signatures.function_calls_optimised_once():
                archive = signatures.build_archive(model)
                archive.write_out(str(staging / "saved_model"), verbose=False)
            merge_duplicate_constants(staging / "saved_model")
            warmup.write(staging / "saved_model")  # before the rename: it appears whole
            return _rename_to_next_version(staging / "saved_model", base)
    except OSError as error:
        raise files.cannot_write(base, error, "export dir") from None


def _rename_to_next_version(folder: Path, base: Path) -> Path:
    """``folder`` renamed to the next free version number of ``base``: another writer
    taking the number first makes the rename fail, and the next number is tried."""
    while True:
        target = base / str(versions.next_number(base))
        try:
            os.rename(folder, target)  # fails if target exists
            return target
        except OSError:
            if not target.exists():
                raise


def merge_duplicate_constants(saved_model_dir: Path) -> tuple[int, int]:
    """Merges, in every function of a SavedModel, the Const nodes of equal attributes
    (value, dtype, shape) into the first of them; returns the functions' node count
    before and after.

    What Grappler's common-subgraph elimination does to a function when it is first run,
    done once at export: a version's first calls (its warm-up, in our server and in
    TF Serving) no longer read, convert and inline 2,761 nodes (of 7,527) that the
    optimiser would throw away. Every output is the same bit for bit (184 captures, all
    five signatures); the five first calls took 2.10 s against 2.42 s, median of 19
    alternating runs (docs/serving.md, "A version's first calls"). A constant with a
    control input or a device is left alone. The fingerprint is written again: it is a
    checksum of ``saved_model.pb``.
    """
    path = saved_model_dir / versions.SAVED_MODEL
    proto = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    before = after = 0
    for meta_graph in proto.meta_graphs:
        for function in meta_graph.graph_def.library.function:
            before += len(function.node_def)
            _merge_constants(function)
            after += len(function.node_def)
    path.write_bytes(proto.SerializeToString())
    if (saved_model_dir / "fingerprint.pb").exists():
        fingerprinting_utils.write_fingerprint(str(saved_model_dir))
    return before, after


def _merge_constants(function: function_pb2.FunctionDef) -> None:
    first: dict[bytes, str] = {}
    merged: dict[str, str] = {}  # a repeat's name -> the name of the constant kept
    for node in function.node_def:
        if node.op != "Const" or node.device or any(i.startswith("^") for i in node.input):
            continue
        key = b"".join(
            name.encode() + node.attr[name].SerializeToString(deterministic=True)
            for name in sorted(node.attr)
        )
        merged_into = first.setdefault(key, node.name)
        if merged_into != node.name:
            merged[node.name] = merged_into
    if not merged:
        return

    def renamed(reference: str) -> str:
        # "node:output:index", or "^node" for a control edge
        control, name = reference.startswith("^"), reference.lstrip("^")
        node, sep, rest = name.partition(":")
        return ("^" if control else "") + merged.get(node, node) + sep + rest

    kept = [node for node in function.node_def if node.name not in merged]
    for node in kept:
        inputs = [renamed(i) for i in node.input]
        data = [i for i in inputs if not i.startswith("^")]  # Mul(c, c) keeps both
        controls = list(dict.fromkeys(i for i in inputs if i.startswith("^")))
        del node.input[:]
        node.input.extend(data + controls)  # control edges come last, each once
    del function.node_def[:]
    function.node_def.extend(kept)
    for name, reference in function.ret.items():
        function.ret[name] = renamed(reference)
    for name, node in function.control_ret.items():
        function.control_ret[name] = merged.get(node, node)
