"""From a SavedModel to TF Lite files for phones (running them is ``reading/litert.py``'s job).

Three conversions of the ``serving_float`` signature (float32 [1, 28, 28, 1] in [0, 1]):

    float32.tflite        the same float model, about 4 bytes a weight
    dynamic_range.tflite  weights stored as int8, activations computed in float
    int8.tflite           everything int8; input and output uint8. The input scale is
                          1/255, so raw 0-255 pixels go in as they are. Activation ranges
                          are calibrated on a representative set of training images.

and the whole reader, the digit-finder in front of the classifier:

    reader.tflite         an RGBA frame in, the digit (read_digit) or the number
                          (read_number) out, with a status instead of errors; the
                          finder is ``finder/``, the same functions that build
                          the SavedModel's serving_images, converted with builtin ops
                          only (no Select TF ops, no custom ops). Contract: ``reading/litert.py``.
    reader_dynamic_range.tflite  the same with the classifier's weights stored as int8

They are written to ``<export_dir>_tflite/<version>/``, beside the SavedModel base path
(not inside it, where TF Serving looks for versions).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from mnist_convnet import contract, files
from mnist_convnet.finder import decode, find

KINDS = ("float32", "dynamic_range", "int8")
READERS = ("reader", "reader_dynamic_range")


def output_dir(version_dir: str | os.PathLike) -> Path:
    """``saved_models/mnist_convnet/3`` -> ``saved_models/mnist_convnet_tflite/3``."""
    version_dir = Path(version_dir)
    return version_dir.parent.parent / f"{version_dir.parent.name}_tflite" / version_dir.name


def _weights(loaded) -> tf.Module:
    """A module holding only the loaded model's variables: what a converter must be given
    to save a function of ours (``loaded`` itself would be saved whole, finder and all)."""
    held = tf.Module()
    held.weights = list(loaded.variables)
    return held


def save_classifier(loaded, folder: str | os.PathLike) -> Path:
    """``serving_float`` alone, saved again with its variables and nothing else.

    The converter loads the SavedModel it is given, twice a conversion; an export holds
    the digit-finder's signatures too (hundreds of functions, seconds a load), this one
    loads in a fraction of that. The files converted from it have the same signature, ops,
    weights and answers (only internal tensor names differ).
    """
    signatures = {contract.SERVING_FLOAT: loaded.signatures[contract.SERVING_FLOAT]}
    tf.saved_model.save(_weights(loaded), str(folder), signatures=signatures)
    return Path(folder)


def convert(
    saved_model_dir: str | os.PathLike, kind: str, representative: np.ndarray | None = None
) -> bytes:
    """One TF Lite flatbuffer of kind ``float32``, ``dynamic_range`` or ``int8``, from a
    SavedModel's ``serving_float`` (an export, or ``save_classifier``'s smaller copy)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=[contract.SERVING_FLOAT]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if kind in ("dynamic_range", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "int8":
        if representative is None:
            raise ValueError("int8 conversion needs representative images")

        def dataset() -> Iterator[list[np.ndarray]]:
            for image in representative:
                yield [image[np.newaxis].astype(np.float32)]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


FRAME = tf.TensorSpec([1, contract.FRAME_SIDE, contract.FRAME_SIDE, 4], tf.uint8, name="frame")
FRAME_SIZE = tf.TensorSpec([2], tf.int32, name="size")


class Reader(tf.Module):
    """The finder and the classifier as one graph, for TF Lite (contract: ``litert.py``)."""

    def __init__(self, loaded) -> None:
        super().__init__()
        self.loaded = loaded  # its variables go to the converter (convert_reader)
        self._classify = loaded.signatures[contract.SERVING_FLOAT]

    @classmethod
    def from_saved_model(cls, saved_model_dir: str | os.PathLike) -> Reader:
        return cls(tf.saved_model.load(str(saved_model_dir)))

    def _probabilities(self, digits: tf.Tensor) -> tf.Tensor:
        floats = tf.reshape(tf.cast(digits, tf.float32) / 255.0, [-1, 28, 28, 1])
        return self._classify(images=floats)["probabilities"]

    @tf.function(input_signature=[FRAME, FRAME_SIZE], autograph=False)
    def read_digit(self, frame: tf.Tensor, size: tf.Tensor) -> dict[str, tf.Tensor]:
        grey, size = decode.frame_grey(frame, size)
        digit, status = find.read_digit(grey, size)
        found = tf.equal(status, contract.FOUND)
        probabilities = tf.where(found, self._probabilities(digit), 0.0)
        best = tf.cast(tf.argmax(probabilities, axis=-1), tf.int32)
        return {
            "digit": tf.where(found, best, -1),
            "probabilities": probabilities,
            "image": tf.reshape(digit, [1, 28, 28]),
            "status": tf.reshape(status, [1]),
        }

    @tf.function(input_signature=[FRAME, FRAME_SIZE], autograph=False)
    def read_number(self, frame: tf.Tensor, size: tf.Tensor) -> dict[str, tf.Tensor]:
        grey, size = decode.frame_grey(frame, size)
        digits, boxes, count, status = find.read_number(grey, size)
        present = tf.range(contract.MAX_DIGITS) < tf.where(
            tf.equal(status, contract.FOUND), count, 0
        )
        probabilities = self._probabilities(digits) * tf.expand_dims(
            tf.cast(present, tf.float32), 1
        )
        best = tf.cast(tf.argmax(probabilities, axis=-1), tf.int32)
        most = contract.MAX_DIGITS
        return {
            "count": tf.reshape(count, [1]),
            "digits": tf.reshape(tf.where(present, best, -1), [1, most]),
            "probabilities": tf.reshape(probabilities, [1, most, 10]),
            "boxes": tf.reshape(boxes, [1, most, 4]),
            contract.NUMBER_DIGIT_IMAGES: tf.reshape(digits, [1, most, 28, 28]),
            "status": tf.reshape(status, [1]),
        }


def convert_reader(reader: Reader, dynamic_range: bool = False) -> bytes:
    """reader.tflite: builtin ops only (conversion fails otherwise). The two functions are
    traced once a ``Reader`` (the finder's ops: the slow part), so one reader converts
    both ways."""
    functions = [
        reader.read_digit.get_concrete_function(),
        reader.read_number.get_concrete_function(),
    ]
    # The converter saves the functions to a SavedModel first; given the reader, the save
    # would trace its two tf.functions again (TensorFlow retraces in a save), and given
    # the loaded model, it would save all of it. Its variables are all the traces use.
    converter = tf.lite.TFLiteConverter.from_concrete_functions(functions, _weights(reader.loaded))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if dynamic_range:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def op_names(flatbuffer: bytes) -> set[str]:
    """Every op in every subgraph (loop and branch bodies too): builtin names, or
    ``CUSTOM:<name>`` for custom and Select TF (``Flex...``) ops."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = set()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            code = model.OperatorCodes(graph.Operators(o).OpcodeIndex())
            number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if number == schema.BuiltinOperator.CUSTOM:
                names.add(f"CUSTOM:{code.CustomCode().decode()}")
            else:
                names.add(builtin[number])
    return names


def write_all(
    loaded,
    representative: np.ndarray,
    out_dir: str | os.PathLike,
    kinds: tuple[str, ...] = KINDS + READERS,
) -> dict[str, Path]:
    """Writes the classifiers and the readers (``kinds``) of ``loaded`` (a SavedModel as
    ``tf.saved_model.load`` returns it, loaded once for all of them); returns their paths
    by kind."""
    out_dir = files.writable_dir(out_dir)
    paths = {}
    reader = None
    with tempfile.TemporaryDirectory(prefix="serving_float-") as tmp:
        classifier = save_classifier(loaded, Path(tmp) / "saved_model")
        for kind in kinds:
            if kind in READERS:
                reader = reader or Reader(loaded)
                content = convert_reader(reader, dynamic_range=kind != "reader")
            else:
                content = convert(classifier, kind, representative)
            paths[kind] = out_dir / f"{kind}.tflite"
            files.write_whole(paths[kind], content)
    return paths
