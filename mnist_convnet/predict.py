"""Read digits from image files with a trained SavedModel.

    mnist-convnet predict photo.jpg drawings/          # files, or folders of images
    python -m mnist_convnet.predict --model_dir=saved_models/mnist_convnet/3 digit.png

One JSON line per image: ``{"path", "digit", "probability", "top3"}``, or
``{"path", "error"}`` for a file that cannot be read — the others still run, and the exit
code is 1 if any failed. Images are made MNIST-like first (see ``preprocess.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from mnist_convnet import common_flags, inference, preprocess  # noqa: E402
from mnist_convnet.errors import exit_on_user_error  # noqa: E402

common_flags.define_model_dir_flag()

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


def predict_files(loaded, paths: list[Path]) -> list[dict]:
    """One result dict per path, in order; unreadable files give ``{"path", "error"}``."""
    results, digits, index = [], [], []
    for path in paths:
        try:
            digits.append(preprocess.load_digit(path))
            index.append(len(results))
            results.append({"path": str(path)})
        except preprocess.ImageError as error:
            results.append({"path": str(path), "error": str(error)})
    if digits:
        outputs = loaded.signatures["serving_default"](pixels=np.stack(digits))
        for i, p in zip(index, outputs["probabilities"].numpy()):
            top = np.argsort(p)[::-1][:3]
            results[i].update(
                digit=int(top[0]),
                probability=round(float(p[top[0]]), 6),
                top3=[[int(d), round(float(p[d]), 6)] for d in top],
            )
    return results


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("usage: mnist-convnet predict FILE_OR_DIR... [--model_dir=...]")
    with exit_on_user_error():
        loaded = inference.load_saved_model(flags.FLAGS.model_dir)
    results = predict_files(loaded, expand(argv[1:]))
    for result in results:
        print(json.dumps(result), flush=True)
    sys.exit(1 if any("error" in r for r in results) else 0)


if __name__ == "__main__":
    app.run(main)
