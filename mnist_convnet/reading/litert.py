"""Running the .tflite files with LiteRT, as a phone app does: no TensorFlow here.

    LiteModel    the 28x28 classifiers (float32, dynamic_range, int8 .tflite)
    LiteReader   reader.tflite: a camera-sized RGBA frame in, the digit or number out
    fill_frame   an image -> the reader's frame and the image's size in it
    load_image   an image file -> the upright RGBA image a phone's decoder would give

``mnist-convnet predict --tflite=reader.tflite`` is this module end to end: it is the
reference for an app, and a test checks it never imports TensorFlow.

reader.tflite's contract (``tflite.Reader`` builds it from the SavedModel):

    inputs    frame  uint8 [1, S, S, 4]   RGBA, the image in the top-left corner, scaled
                                          down to fit S x S if larger (S = FRAME_SIDE)
              size   int32 [2]            the image's height and width in the frame
    read_digit    digit int32 [1] (-1 if none), probabilities float32 [1, 10],
                  image uint8 [1, 28, 28] (what the model saw), status int32 [1]
    read_number   count int32 [1], digits int32 [1, 16] (-1 past count),
                  probabilities float32 [1, 16, 10], boxes int32 [1, 16, 4] (ymin, xmin,
                  ymax, xmax in frame pixels), images uint8 [1, 16, 28, 28], status

``status`` is ``contract.FOUND`` (0) or why not (``contract.REASONS``): TF Lite has no
exceptions, so a blank frame, a frame of noise or a sliver gives a status, never a crash.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from mnist_convnet import contract
from mnist_convnet.errors import UserError
from mnist_convnet.finder import preprocess


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


def load_image(path: str | os.PathLike, side: int = contract.FRAME_SIDE) -> Image.Image:
    """An image file -> upright RGBA, as a phone's image API decodes it (raises ImageError).

    EXIF orientation is applied; a large JPEG is decoded shrunk by its DCT (Pillow's
    ``draft``, Android's ``inSampleSize``) to no less than ``side`` on each side.
    """
    with preprocess.opened(path) as (_, image):
        if image.format == "JPEG":
            image.draft("RGB", (side, side))
        return preprocess.upright(image).convert("RGBA")


def fill_frame(
    image: Image.Image, side: int = contract.FRAME_SIDE
) -> tuple[np.ndarray, np.ndarray, float]:
    """(frame uint8 [1, side, side, 4], size int32 [2], scale): ``image`` scaled down by
    area averaging to fit the frame if larger, in its top-left corner; ``scale`` is frame
    pixels per image pixel (1.0 when it fits as it is)."""
    scale = min(1.0, side / max(image.size))
    if scale < 1.0:
        fitted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(fitted, Image.Resampling.BOX)
    pixels = np.asarray(image.convert("RGBA"))
    frame = np.zeros((1, side, side, 4), np.uint8)
    frame[0, : pixels.shape[0], : pixels.shape[1]] = pixels
    return frame, np.array(pixels.shape[:2], np.int32), scale


def digit_result(probabilities: np.ndarray) -> dict:
    """``{"digit", "probability", "top3", "hard"}`` from probabilities [10]: predict's JSON
    (``hard``: the network was unsure, ``contract.is_hard``)."""
    top = np.argsort(probabilities)[::-1][:3]
    return {
        "digit": int(top[0]),
        "probability": round(float(probabilities[top[0]]), 6),
        "top3": [[int(d), round(float(probabilities[d]), 6)] for d in top],
        "hard": contract.is_hard(probabilities),
    }


def number_digit(probabilities: np.ndarray, digit: int, box: list[int]) -> dict:
    """One digit of a number, as predict's JSON gives it: ``{"digit", "probability",
    "box", "hard"}``."""
    return {
        "digit": digit,
        "probability": round(float(probabilities[digit]), 6),
        "box": box,
        "hard": contract.is_hard(probabilities),
    }


class LiteReader:
    """reader.tflite in LiteRT: frames in, digits and numbers out (see the module doc)."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = 1) -> None:
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()  # applies the XNNPACK delegate, now, not later
        self.signatures = set(self.interpreter.get_signature_list())
        if "read_digit" not in self.signatures:
            raise UserError(f"{path} is not a reader.tflite (no read_digit signature)")
        self._runners = {
            name: self.interpreter.get_signature_runner(name) for name in self.signatures
        }
        self.side = int(self._runners["read_digit"].get_input_details()["frame"]["shape"][1])

    def run(self, signature: str, frame: np.ndarray, size: np.ndarray) -> dict[str, np.ndarray]:
        """The signature's outputs for one frame."""
        return self._runners[signature](frame=frame, size=size)

    def read_image(self, image: Image.Image, number: bool = False) -> dict:
        """predict's JSON fields for ``image``: the digit, the number, or ``{"error"}``."""
        if number and "read_number" not in self.signatures:
            raise UserError("this reader.tflite reads single digits only")
        frame, size, scale = fill_frame(image, self.side)
        out = self.run("read_number" if number else "read_digit", frame, size)
        status = int(out["status"][0])
        if status != contract.FOUND:
            return {"error": contract.REASONS[status]}
        if not number:
            return digit_result(out["probabilities"][0])
        digits = []
        for i in range(int(out["count"][0])):
            digit = int(out["digits"][0, i])
            box = [round(float(v) / scale) for v in out["boxes"][0, i]]
            digits.append(number_digit(out["probabilities"][0, i], digit, box))
        return {"number": "".join(str(d["digit"]) for d in digits), "digits": digits}

    def read_file(self, path: Path, number: bool = False) -> dict:
        """One JSON line's dict for ``path``, as ``predict.read_file`` gives it."""
        result: dict = {"path": str(path)}
        try:
            image = load_image(path, self.side)
        except preprocess.ImageError as error:
            return {**result, "error": str(error)}
        return {**result, **self.read_image(image, number)}
