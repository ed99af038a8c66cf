"""What each signature takes, checked once per request, whichever door it came through.

REST's JSON (``protocol.py``), gRPC's TensorProtos (``tensors.py``) and the warm-up file
each turn a request into arrays named by the signature's inputs; ``check`` is where those
arrays meet the signature's rules (shapes, counts, pixel values, :explain's label and step
size) and the only place. What it returns is ``Checked``: a ``Servable`` runs a
``Checked`` as it is, so no value is checked twice on its way to the model. Numbers only:
no TensorFlow, no HTTP.
"""

from __future__ import annotations

import numpy as np

from mnist_convnet import contract
from mnist_convnet.serving.status import invalid

MAX_INSTANCES = 1024  # rows per request at most (a 28x28 row is ~3 kB of JSON)
MAX_ELEMENTS = MAX_INSTANCES * contract.SIZE * contract.SIZE  # a gRPC tensor's, at most
MAX_EXPLANATIONS = 8  # images per :explain at most: each answer is ~0.5 MB of JSON
ROWS, IMAGES, EXPLAIN = "rows", "images", "explain"  # how a Servable runs each kind


class Checked(dict):
    """A signature's inputs after ``check``: the arrays as the signature takes them, the
    signature's name and its kind (``ROWS``, ``IMAGES`` or ``EXPLAIN``)."""

    def __init__(self, signature_name: str, kind: str, values: dict[str, np.ndarray]) -> None:
        super().__init__(values)
        self.signature_name, self.kind = signature_name, kind


def check(
    signature_name: str, inputs: dict[str, np.ndarray], expected: list[str], max_images: int
) -> Checked:
    """``inputs`` named as the signature's ``expected`` inputs, checked; ServingError if not."""
    if isinstance(inputs, Checked) and inputs.signature_name == signature_name:
        return inputs
    if sorted(inputs) != sorted(expected):
        raise invalid(
            f"{signature_name} takes the input(s) {', '.join(expected)}; "
            f"got {', '.join(sorted(inputs)) or 'none'}"
        )
    if signature_name == contract.SERVING_EXPLAIN:
        return explain(inputs)
    ((name, value),) = inputs.items()
    if signature_name in contract.IMAGE_SIGNATURES:
        return Checked(signature_name, IMAGES, {name: encoded_images(value, max_images)})
    floats = signature_name == contract.SERVING_FLOAT
    return Checked(signature_name, ROWS, {name: pixel_rows(value, floats)})


def pixel_rows(value: np.ndarray, floats: bool) -> np.ndarray:
    """A pixel input: [B, 28, 28] or [B, 28, 28, 1], 1 <= B <= MAX_INSTANCES."""
    if value.dtype == object or value.dtype.kind not in "iuf":
        raise invalid(f"pixels must be numbers, not {value.dtype}")
    shape = list(value.shape)
    if shape[1:] not in ([28, 28], [28, 28, 1]) or (floats and shape[1:] != [28, 28, 1]):
        wanted = "[batch, 28, 28, 1]" if floats else "[batch, 28, 28] or [batch, 28, 28, 1]"
        raise invalid(f"the input must have shape {wanted}, got {shape}")
    if not 1 <= shape[0] <= MAX_INSTANCES:
        raise invalid(f"a request holds 1 to {MAX_INSTANCES} rows, got {shape[0]}")
    return pixel_values(value, floats)


def pixel_values(array: np.ndarray, floats: bool) -> np.ndarray:
    """Pixel values as the signature takes them: uint8 0-255 (float32 0-1 if ``floats``).
    A uint8 array is every pixel value already: returned as it is, not copied."""
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise invalid("pixels must be finite numbers")
    if floats:
        if array.size and (array.min() < 0 or array.max() > 1):
            raise invalid(f"{contract.SERVING_FLOAT} takes numbers from 0 to 1")
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array
    whole = array.dtype.kind != "f" or np.array_equal(array, np.round(array))
    if array.size and (not whole or array.min() < 0 or array.max() > 255):
        raise invalid("pixels must be integers from 0 to 255")
    return array.astype(np.uint8)


def encoded_images(value: np.ndarray, most: int) -> np.ndarray:
    """An image input: encoded images as a vector of 1 to ``most`` byte strings."""
    if value.ndim != 1 or not value.size or value.dtype != object:
        raise invalid(f"images must be a vector of encoded images (strings), got {value.dtype}")
    if len(value) > most:
        raise invalid(f"at most {most} images per request (got {len(value)})")
    return value


def explain(inputs: dict[str, np.ndarray]) -> Checked:
    """serving_explain's inputs: 1 to MAX_EXPLANATIONS images in [0, 1], a label (0-9, or
    -1 for the prediction) and a step size (0 to MAX_LEARNING_RATE) for each."""
    images_name, label_name, rate_name = contract.EXPLAIN_INPUTS
    images = pixel_rows(inputs[images_name], floats=True)
    return _explained(images, inputs[label_name], inputs[rate_name])


def explain_pixels(pixels: np.ndarray, label: int, learning_rate: float) -> Checked:
    """serving_explain's inputs for pixel rows (integers 0-255, as :predict takes them),
    all with one label and step size: the pixels are checked as :predict's, once."""
    rows = pixel_rows(pixels, floats=False)
    images = rows.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    count = len(images)
    return _explained(images, np.full(count, label), np.full(count, learning_rate))


def _explained(images: np.ndarray, label: np.ndarray, rate: np.ndarray) -> Checked:
    """Checked images with their labels and step sizes checked beside them."""
    count = len(images)
    if count > MAX_EXPLANATIONS:
        raise invalid(f"at most {MAX_EXPLANATIONS} images per explanation, got {count}")
    label, rate = np.asarray(label), np.asarray(rate)
    _, label_name, rate_name = contract.EXPLAIN_INPUTS
    for name, value in ((label_name, label), (rate_name, rate)):
        if value.shape != (count,) or value.dtype == object or value.dtype.kind not in "iuf":
            raise invalid(f"{name} must be {count} number(s), one for each image")
    if np.any(label != np.round(label)) or label.min() < contract.PREDICTED or label.max() > 9:
        raise invalid("label must be a digit 0-9 (or -1: the predicted one)")
    top = contract.MAX_LEARNING_RATE
    if not np.all(np.isfinite(rate)) or rate.min() < 0 or rate.max() > top:
        raise invalid(f"learning_rate must be a number from 0 to {top:g}")
    values = (images, label.astype(np.int64), rate.astype(np.float32))
    return Checked(contract.SERVING_EXPLAIN, EXPLAIN, dict(zip(contract.EXPLAIN_INPUTS, values)))
