"""SavedModel warm-up, in TF Serving's format: written at export, replayed before serving.

A SavedModel's first call is slow (graph optimisation, oneDNN kernels made on first
use). TF Serving therefore replays ``assets.extra/tf_serving_warmup_requests`` — a
TFRecord file of ``PredictionLog`` records — on each version before it takes traffic
(its guide: tensorflow.org/tfx/serving/saved_model_warmup). Every export here writes one
``PredictRequest`` per signature, so the first real request is not the slow one, under
TF Serving or under ``mnist-convnet serve`` (``serving/servables.py`` replays the same file).

The digits are drawn, not taken from MNIST: an export needs no data set. Each is a stroke
the digit-finder reads (a "1"), so no warm-up request fails, which would fail the load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from mnist_convnet import contract
from mnist_convnet.errors import UserError

FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving reads at most this many (saved_model_warmup_util.cc)


def _one(height: int = 28, width: int = 28, strokes: int = 1) -> np.ndarray:
    """White vertical strokes on black, ``strokes`` of them side by side: "1", "11", ..."""
    image = np.zeros((height, width), np.uint8)
    for i in range(strokes):
        x = (i + 1) * width // (strokes + 1)
        image[height // 5 : height - height // 5, x - max(1, width // 40) : x + 2] = 255
    return image


def _png(ink_on_paper: np.ndarray) -> bytes:
    return tf.io.encode_png(ink_on_paper[..., np.newaxis]).numpy()


def requests(model_name: str = "") -> list[predict_pb2.PredictRequest]:
    """One PredictRequest per signature, each with one drawn digit (two for numbers)."""
    pixels = _one()[np.newaxis]
    floats = (pixels / 255.0).astype(np.float32)[..., np.newaxis]
    values = {
        contract.SERVING_DEFAULT: (pixels,),
        contract.SERVING_FLOAT: (floats,),
        contract.SERVING_IMAGES: (np.array([_png(255 - _one(64, 64))], dtype=object),),
        contract.SERVING_NUMBER: (np.array([_png(255 - _one(64, 128, 2))], dtype=object),),
        contract.SERVING_EXPLAIN: (
            floats,
            np.array([contract.PREDICTED], np.int64),
            np.array([contract.DEFAULT_LEARNING_RATE], np.float32),
        ),
    }
    inputs = {
        name: dict(zip(contract.SIGNATURE_INPUTS[name], arrays)) for name, arrays in values.items()
    }
    made = []
    for signature, named in inputs.items():
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
        )
        for name, value in named.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        made.append(request)
    return made


def write(saved_model_dir: str | Path) -> Path:
    """Writes the warm-up file into a SavedModel folder (before it is renamed into place)."""
    path = Path(saved_model_dir) / FILE
    path.parent.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests():
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read(saved_model_dir: str | Path) -> list[predict_pb2.PredictRequest]:
    """The PredictRequests of a SavedModel's warm-up file ([] if it has none)."""
    path = Path(saved_model_dir) / FILE
    if not path.is_file():
        return []
    found = []
    try:
        for record in tf.data.TFRecordDataset(str(path)).take(MAX_RECORDS):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") == "predict_log":
                found.append(log.predict_log.request)
    except (tf.errors.OpError, DecodeError) as error:
        reason = error.message if isinstance(error, tf.errors.OpError) else str(error)
        raise UserError(f"{path} is not a file of TFRecords of PredictionLogs: {reason}") from None
    return found
