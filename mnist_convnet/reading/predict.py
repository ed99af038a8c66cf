"""Reading digits from image files with a trained SavedModel (``mnist-convnet predict``).

One result per image: ``{"path", "digit", "probability", "top3", "hard"}``, with
``number=True`` ``{"path", "number", "digits": [{"digit", "probability", "box", "hard"}]}``
(box: ymin, xmin, ymax, xmax in the image's pixels), or ``{"path", "error"}`` for a file
that cannot be read or has no digit. ``hard`` is true where the network was unsure
(``contract.is_hard``): worth a second look.

The digit is found by the SavedModel itself (its ``serving_images`` / ``serving_number``
signatures, see ``finder/``), exactly as TF Serving and ``mnist-convnet serve``
find it; ``preprocess.py`` only converts what TensorFlow cannot decode. A folder of a
writer's labelled examples (``labelled_files``) is read the same way, for
``mnist-convnet personalize``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def labelled_files(folder: Path) -> list[tuple[Path, int]]:
    """The images of a folder of examples and their labels: a subfolder named by a digit
    (``4/any.png``) or a file name that starts with one (``4.png``, ``4_b.jpg``); any
    other image is an error that names it."""
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of examples")
    found = []
    for path in sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in preprocess.IMAGE_SUFFIXES
    ):
        label = _label(path.relative_to(folder))
        if label is None:
            raise UserError(
                f"{path}: no label; put it in a folder named by its digit (4/{path.name}) "
                "or start its name with the digit (4_...)"
            )
        found.append((path, label))
    if not found:
        raise UserError(f"no images in {folder}")
    return found


def _label(relative: Path) -> int | None:
    if len(relative.parts) > 1 and len(relative.parts[0]) == 1 and relative.parts[0].isdigit():
        return int(relative.parts[0])
    stem = relative.stem
    if stem[:1].isdigit() and (len(stem) == 1 or not stem[1].isdigit()):
        return int(stem[0])
    return None


def found_digits(fn, examples: list[tuple[Path, int]]):
    """The 28x28 digit ``serving_images`` finds in each example (uint8 [k, 28, 28]) and the
    labels; an example in which it finds none is an error naming the file."""
    images = []
    for path, _ in examples:
        try:
            outputs = fn(images=tf.constant([preprocess.encoded_image(path)]))
        except preprocess.ImageError as error:
            raise UserError(f"{path}: {error}") from None
        except tf.errors.InvalidArgumentError as error:
            raise UserError(f"{path}: {refusals.error_message(error)}") from None
        images.append(outputs["image"][0].numpy())
    return np.stack(images), np.array([label for _, label in examples], np.int64)
