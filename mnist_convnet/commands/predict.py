"""Read digits from image files with a trained SavedModel.

    mnist-convnet predict photo.jpg drawings/          # files, or folders of images
    mnist-convnet predict --number cheque.jpg          # a row of digits: "4071"
    mnist-convnet predict --model_dir=saved_models/mnist_convnet/3 digit.png

One JSON line per image (see ``mnist_convnet/predict.py``); a file that cannot be read or
has no digit gets ``{"path", "error"}``, the others still run, and the exit code is 1 if
any failed.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from mnist_convnet import inference, predict
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error

USAGE = "mnist-convnet predict [--number] [--model_dir=...] FILE_OR_DIR..."

shared.define_model_dir_flag()
flags.DEFINE_bool("number", False, "Read a row of digits left to right as one number.")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError(f"usage: {USAGE}")
    number = flags.FLAGS.number
    with exit_on_user_error():
        fn = predict.signature(inference.load_saved_model(flags.FLAGS.model_dir), number)
    failed = False
    for path in predict.expand(argv[1:]):
        result = predict.read_file(fn, path, number)
        failed |= "error" in result
        print(json.dumps(result), flush=True)
    sys.exit(1 if failed else 0)
