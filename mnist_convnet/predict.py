"""Read digits from image files with a trained SavedModel.

    mnist-convnet predict photo.jpg drawings/          # files, or folders of images
    mnist-convnet predict --number cheque.jpg          # a row of digits: "4071"
    python -m mnist_convnet.predict --model_dir=saved_models/mnist_convnet/3 digit.png

One JSON line per image: ``{"path", "digit", "probability", "top3"}``, with ``--number``
``{"path", "number", "digits": [{"digit", "probability", "box"}]}`` (box: ymin, xmin,
ymax, xmax in the image's pixels), or ``{"path", "error"}`` for a file that cannot be read
or has no digit — the others still run, and the exit code is 1 if any failed.

The digit is found by the SavedModel itself (its ``serving_images`` / ``serving_number``
signatures, see ``digit_finder.py``), exactly as TF Serving and ``mnist-convnet serve``
find it; ``preprocess.py`` only converts what TensorFlow cannot decode.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from mnist_convnet import common_flags, digit_finder, inference, preprocess  # noqa: E402
from mnist_convnet.errors import UserError, exit_on_user_error  # noqa: E402

common_flags.define_model_dir_flag()
flags.DEFINE_bool("number", False, "Read a row of digits left to right as one number.")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".pgm"}


def expand(paths: list[str]) -> list[Path]:
    """Files as given; folders replaced by the image files inside them, sorted."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def signature(loaded, number: bool):
    """The SavedModel's image signature; a clear error for one exported before it existed."""
    name = "serving_number" if number else "serving_images"
    fn = loaded.signatures.get(name)
    if fn is None or (not number and "image" not in fn.structured_outputs):
        raise UserError(
            f"this SavedModel has no {name} digit-finder (exported by an older version): "
            "export it again with `mnist-convnet train` or `make train`"
        )
    return fn


def _digit(probabilities: np.ndarray) -> dict:
    top = np.argsort(probabilities)[::-1][:3]
    return {
        "digit": int(top[0]),
        "probability": round(float(probabilities[top[0]]), 6),
        "top3": [[int(d), round(float(probabilities[d]), 6)] for d in top],
    }


def _number(outputs: dict) -> dict:
    count = int(outputs["count"][0])
    digits = []
    for i in range(count):
        p = outputs["probabilities"][0, i].numpy()
        digit = int(outputs["digits"][0, i])
        box = [int(v) for v in outputs["boxes"][0, i]]
        digits.append({"digit": digit, "probability": round(float(p[digit]), 6), "box": box})
    return {"number": outputs["number"][0].numpy().decode(), "digits": digits}


def read_file(fn, path: Path, number: bool) -> dict:
    """One result dict for ``path``: the digit (or number) read, or ``{"error"}``."""
    result: dict = {"path": str(path)}
    try:
        outputs = fn(images=tf.constant([preprocess.encoded_image(path)]))
    except preprocess.ImageError as error:
        return {**result, "error": str(error)}
    except tf.errors.InvalidArgumentError as error:
        return {**result, "error": digit_finder.error_message(error)}
    if number:
        return {**result, **_number(outputs)}
    return {**result, **_digit(outputs["probabilities"][0].numpy())}


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("usage: mnist-convnet predict [--number] FILE_OR_DIR... [--model_dir=...]")
    number = flags.FLAGS.number
    with exit_on_user_error():
        fn = signature(inference.load_saved_model(flags.FLAGS.model_dir), number)
    failed = False
    for path in expand(argv[1:]):
        result = read_file(fn, path, number)
        failed |= "error" in result
        print(json.dumps(result), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    app.run(main)
