"""How a benchmark reads one image through each door a user has, free of flags so that
several benchmarks share them (``bench.captures``, ``bench.writers``):

    read_tf_only   the SavedModel's serving_images / serving_number, TensorFlow alone
    read_rest      the REST server's b64 path
    read_predict   `mnist-convnet predict [--number] [--tflite=...]` on files (child
                   processes, as a user runs it; several when the paths overflow argv)
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import requests
import tensorflow as tf

from mnist_convnet import contract
from mnist_convnet.export import tflite


def read_tf_only(loaded, encoded: bytes, number: bool) -> tuple[str, np.ndarray | None]:
    name = "serving_number" if number else "serving_images"
    try:
        out = loaded.signatures[name](images=tf.constant([encoded]))
    except tf.errors.InvalidArgumentError:
        return "error", None
    if number:
        return out["number"][0].numpy().decode(), out["images"][0].numpy()
    return str(int(out["classes"][0])), out["image"][0].numpy()


def read_tf_only_digit(loaded, encoded: bytes) -> tuple[str, bool | None]:
    """``serving_images``' answer and whether it was a hard reading (``contract.is_hard``);
    ("error", None) when the finder refused the image."""
    try:
        out = loaded.signatures["serving_images"](images=tf.constant([encoded]))
    except tf.errors.InvalidArgumentError:
        return "error", None
    return str(int(out["classes"][0])), contract.is_hard(out["probabilities"][0].numpy())


def read_rest(url: str, encoded: bytes, number: bool) -> tuple[str, np.ndarray | None]:
    body = {"instances": [{"b64": base64.b64encode(encoded).decode()}]}
    if number:
        body["signature_name"] = "serving_number"
    answer = requests.post(url, json=body, timeout=60)
    if answer.status_code != 200:
        return "error", None
    prediction = answer.json()["predictions"][0]
    if number:
        return prediction["number"], np.asarray(prediction["images"], np.uint8)
    return str(prediction["classes"]), np.asarray(prediction["image"], np.uint8)


# Characters of file paths given to one `predict` child: Linux holds argv and the
# environment to 2 MiB, and a benchmark's sets can name more files than that.
ARGV_CHARS = 500_000


def read_predict(
    model_dir: str, paths: list[Path], number: bool, reader: str = ""
) -> dict[str, str]:
    """`predict`'s answer for each path (its digit or number, "error" where it found
    none), keyed by str(path): one child process per ARGV_CHARS of paths."""
    command = [sys.executable, "-m", "mnist_convnet", "predict", f"--model_dir={model_dir}"]
    command += [f"--tflite={reader}"] if reader else []
    command += ["--number"] if number else []
    key = "number" if number else "digit"
    found = {}
    for batch in _batches([str(p) for p in paths], ARGV_CHARS):
        done = subprocess.run(command + batch, capture_output=True, text=True)
        for line in done.stdout.splitlines():
            result = json.loads(line)
            found[result["path"]] = str(result[key]) if key in result else "error"
    return found


def _batches(args: list[str], chars: int) -> list[list[str]]:
    """``args`` in order, cut into runs of at most ``chars`` characters (one arg at least)."""
    batches: list[list[str]] = []
    size = chars
    for arg in args:
        if size + len(arg) + 1 > chars:
            batches.append([])
            size = 0
        batches[-1].append(arg)
        size += len(arg) + 1
    return batches


def reader_files(model_dir: str, given: list[str] | None = None) -> dict[str, Path]:
    """The reader .tflite files to measure, by name (file name without .tflite): those
    ``given``, or the export's own where ``make export-tflite`` wrote them."""
    if given is not None:
        paths = [Path(p) for p in given]
    else:
        folder = tflite.output_dir(model_dir)
        paths = [folder / f"{kind}.tflite" for kind in tflite.READERS]
        paths = [p for p in paths if p.exists()]
    return {p.stem: p for p in paths}
