"""Read digits from image files with a trained SavedModel, or with reader.tflite as a phone.

    mnist-convnet predict photo.jpg drawings/          # files, or folders of images
    mnist-convnet predict --number cheque.jpg          # a row of digits: "4071"
    mnist-convnet predict --model_dir=saved_models/mnist_convnet/3 digit.png
    mnist-convnet predict --tflite=saved_models/mnist_convnet_tflite/1/reader.tflite photo.jpg

One JSON line per image (see ``mnist_convnet/reading/predict.py``); a file that cannot be read or
has no digit gets ``{"path", "error"}``, the others still run, and the exit code is 1 if
any failed. With ``--tflite`` the files are decoded with Pillow and read by LiteRT alone,
the way a phone app does it (``mnist_convnet/reading/litert.py``): TensorFlow is never imported.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from mnist_convnet.commands import flags as shared
from mnist_convnet.commands.main import loading_native
from mnist_convnet.errors import UserError, exit_on_user_error
from mnist_convnet.finder import preprocess

LOADS_TENSORFLOW = False  # only without --tflite, and then quietly (``_reader``)
USAGE = "mnist-convnet predict [--number] [--model_dir=... | --tflite=reader.tflite] FILE_OR_DIR..."

shared.define_model_dir_flag()
flags.DEFINE_bool("number", False, "Read a row of digits left to right as one number.")
flags.DEFINE_string(
    "tflite",
    None,
    "Read with this reader.tflite (from `mnist-convnet export-tflite`) in LiteRT, without "
    "TensorFlow, as a phone app does, instead of the SavedModel of --model_dir.",
)


def _reader(number: bool):
    """A function from a file path to its JSON dict."""
    if flags.FLAGS.tflite:
        from mnist_convnet.reading import litert  # NumPy, Pillow and LiteRT: no TensorFlow

        path = flags.FLAGS.tflite
        try:
            with loading_native():  # LiteRT announces its XNNPACK delegate on stderr
                reader = litert.LiteReader(path)
        except (ValueError, RuntimeError) as error:  # not a flatbuffer, or no such file
            raise UserError(f"cannot load {path}: {error}") from None
        if number and "read_number" not in reader.signatures:
            raise UserError(f"{path} reads single digits only (no read_number signature)")
        return lambda file: reader.read_file(file, number)
    with loading_native():
        from mnist_convnet.reading import inference, predict

    fn = predict.signature(inference.load_saved_model(flags.FLAGS.model_dir), number)
    return lambda file: predict.read_file(fn, file, number)


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError(f"usage: {USAGE}")
    with exit_on_user_error():
        read = _reader(flags.FLAGS.number)
    failed = False
    for path in preprocess.expand(argv[1:]):
        result = read(path)
        failed |= "error" in result
        print(json.dumps(result), flush=True)
    sys.exit(1 if failed else 0)
