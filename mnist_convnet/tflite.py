"""From a SavedModel to TF Lite files for phones, and running them with LiteRT.

Three conversions of the ``serving_float`` signature (float32 [1, 28, 28, 1] in [0, 1]):

    float32.tflite        the same float model, about 4 bytes a weight
    dynamic_range.tflite  weights stored as int8, activations computed in float
    int8.tflite           everything int8; input and output uint8. The input scale is
                          1/255, so raw 0-255 pixels go in as they are. Activation ranges
                          are calibrated on a representative set of training images.

They are written to ``<export_dir>_tflite/<version>/``, beside the SavedModel base path
(not inside it, where TF Serving looks for versions).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

KINDS = ("float32", "dynamic_range", "int8")


def output_dir(version_dir: str | os.PathLike) -> Path:
    """``saved_models/mnist_convnet/3`` -> ``saved_models/mnist_convnet_tflite/3``."""
    version_dir = Path(version_dir)
    return version_dir.parent.parent / f"{version_dir.parent.name}_tflite" / version_dir.name


def convert(
    saved_model_dir: str | os.PathLike, kind: str, representative: np.ndarray | None = None
) -> bytes:
    """One TF Lite flatbuffer of kind ``float32``, ``dynamic_range`` or ``int8``."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=["serving_float"]
    )
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


def write_all(
    saved_model_dir: str | os.PathLike, representative: np.ndarray, out_dir: str | os.PathLike
) -> dict[str, Path]:
    """Converts to all three kinds; each file is written under a temporary name and renamed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind in KINDS:
        path = out_dir / f"{kind}.tflite"
        partial = path.with_suffix(".tflite.partial")
        partial.write_bytes(convert(saved_model_dir, kind, representative))
        os.replace(partial, path)
        paths[kind] = path
    return paths


class LiteModel:
    """A .tflite classifier run by the LiteRT interpreter, on float images in [0, 1]."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None) -> None:
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        # The tensors by their names in the signature (images -> classes, probabilities),
        # never by shape: with a batch of 10, `classes` is [10] and looks like [.., 10] too.
        runner = self.interpreter.get_signature_runner()
        self._input_index = runner.get_input_details()["images"]["index"]
        self._output_index = runner.get_output_details()["probabilities"]["index"]
        del runner  # it holds tensor views that would block resizing the input
        self._find_tensors()
        self._batch = 1

    def _find_tensors(self) -> None:
        (self.input,) = [
            d for d in self.interpreter.get_input_details() if d["index"] == self._input_index
        ]
        (self.output,) = [
            d for d in self.interpreter.get_output_details() if d["index"] == self._output_index
        ]

    def _quantize(self, images: np.ndarray) -> np.ndarray:
        if self.input["dtype"] == np.float32:
            return images.astype(np.float32)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(self.input["dtype"])
        q = np.round(images / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(self.input["dtype"])

    def _dequantize(self, raw: np.ndarray) -> np.ndarray:
        if self.output["dtype"] == np.float32:
            return raw
        scale, zero_point = self.output["quantization"]
        return (raw.astype(np.float32) - zero_point) * scale

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities [N, 10] for float images [N, 28, 28, 1] in [0, 1]."""
        if len(images) != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [len(images), 28, 28, 1])
            self.interpreter.allocate_tensors()
            self._find_tensors()
            self._batch = len(images)
        self.interpreter.set_tensor(self.input["index"], self._quantize(images))
        self.interpreter.invoke()
        return self._dequantize(self.interpreter.get_tensor(self.output["index"]))

    def latency_ms(self, image: np.ndarray, runs: int = 200) -> dict[str, float]:
        """Median and 99th-percentile milliseconds of single-image inference."""
        self.predict(image[np.newaxis])  # warm up, and fix the batch at 1
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.interpreter.invoke()
            times.append((time.perf_counter() - start) * 1000)
        return {
            "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)),
        }
