"""Reading digits from image files with a trained SavedModel (``mnist-convnet predict``).

One result per image: ``{"path", "digit", "probability", "top3", "hard"}``, with
``number=True`` ``{"path", "number", "digits": [{"digit", "probability", "box", "hard"}]}``
(box: ymin, xmin, ymax, xmax in the image's pixels), or ``{"path", "error"}`` for a file
that cannot be read or has no digit. ``hard`` is true where the network was unsure
(``contract.is_hard``): worth a second look.

The digit is found by the SavedModel itself (its ``serving_images`` / ``serving_number``
signatures, see ``finder/``), exactly as TF Serving and ``mnist-convnet serve``
find it; ``preprocess.py`` only converts what TensorFlow cannot decode.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from mnist_convnet import contract
from mnist_convnet.errors import UserError
from mnist_convnet.finder import preprocess, refusals
from mnist_convnet.reading.litert import digit_result, number_digit


def signature(loaded, number: bool):
    """The SavedModel's image signature; a clear error for one exported before it existed."""
    name = contract.SERVING_NUMBER if number else contract.SERVING_IMAGES
    fn = loaded.signatures.get(name)
    if fn is None or (not number and "image" not in fn.structured_outputs):
        raise UserError(
            f"this SavedModel has no {name} digit-finder (exported by an older version): "
            "export it again with `mnist-convnet train` or `make train`"
        )
    return fn


def _number(outputs: dict) -> dict:
    count = int(outputs["count"][0])
    digits = []
    for i in range(count):
        probabilities = outputs["probabilities"][0, i].numpy()
        box = [int(v) for v in outputs["boxes"][0, i]]
        digits.append(number_digit(probabilities, int(outputs["digits"][0, i]), box))
    return {"number": outputs["number"][0].numpy().decode(), "digits": digits}


def read_file(fn, path: Path, number: bool) -> dict:
    """One result dict for ``path``: the digit (or number) read, or ``{"error"}``."""
    result: dict = {"path": str(path)}
    try:
        outputs = fn(images=tf.constant([preprocess.encoded_image(path)]))
    except preprocess.ImageError as error:
        return {**result, "error": str(error)}
    except tf.errors.InvalidArgumentError as error:
        return {**result, "error": refusals.error_message(error)}
    if number:
        return {**result, **_number(outputs)}
    return {**result, **digit_result(outputs["probabilities"][0].numpy())}
