"""What a served model accepts and returns: the SavedModel's signatures.

    serving_default   pixels  uint8 [batch, 28, 28] or [batch, 28, 28, 1], 0-255,
                              white digit on black as in MNIST
    serving_images    images  string [batch]: encoded PNG/JPEG/GIF/BMP, any size — a photo,
                              a scan, a canvas export; what TF Serving REST clients send as
                              {"b64": ...}. The digit is found in the graph
                              (``find.find_digit``); also returns ``image``, the
                              uint8 [batch, 28, 28] the model saw
    serving_number    images  string [batch]: a row of handwritten digits per image, read
                              left to right (``find.find_number``)
    serving_float     images  float32 [batch, 28, 28, 1] in [0, 1]: the Keras model's own
                              input, used for the TF Lite conversion
    serving_explain   images, label, learning_rate: float32 [batch, 28, 28, 1] in [0, 1],
                              int64 [batch] (-1: the predicted class), float32 [batch]; the
                              article's forward and backward pass of each image, every
                              layer's arrays (``explain.py`` lists the outputs)

The 28x28 signatures return ``probabilities`` float32 [batch, 10] and ``classes`` int64
[batch]. ``serving_number`` returns, per image, ``number`` (string, "4071"), ``count``,
and for up to MAX_DIGITS digits ``digits`` int64 (-1 past count), ``probabilities``
[batch, MAX_DIGITS, 10], ``boxes`` int32 [batch, MAX_DIGITS, 4] (ymin, xmin, ymax, xmax
in the image's pixels) and ``images`` uint8 [batch, MAX_DIGITS, 28, 28].
Scaling (x / 255) happens inside, so a client never needs to know how we normalise. An
image with no digit, or a header promising more than 25 Mpixels, is an InvalidArgument
error (HTTP 400 from TF Serving), raised before the image is decoded.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import keras
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
from tensorflow.python.eager import context

from mnist_convnet import contract
from mnist_convnet.finder import find
from mnist_convnet.network import explain

_IN = contract.INPUTS
PIXELS = tf.TensorSpec(shape=None, dtype=tf.uint8, name=_IN[contract.SERVING_DEFAULT])
IMAGES = tf.TensorSpec(shape=[None], dtype=tf.string, name=_IN[contract.SERVING_IMAGES])
FLOATS = tf.TensorSpec(shape=[None, 28, 28, 1], dtype=tf.float32, name=_IN[contract.SERVING_FLOAT])
_, _LABEL, _RATE = contract.EXPLAIN_INPUTS
EXPLAIN = [
    FLOATS,
    tf.TensorSpec(shape=[None], dtype=tf.int64, name=_LABEL),
    tf.TensorSpec(shape=[None], dtype=tf.float32, name=_RATE),
]


def _outputs(probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}


def pixels_to_floats(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 [B, 28, 28] or [B, 28, 28, 1] -> float32 [B, 28, 28, 1] in [0, 1]."""
    rank = tf.rank(pixels)
    shape = tf.shape(pixels)
    ok = tf.logical_and(
        tf.logical_or(tf.equal(rank, 3), tf.logical_and(tf.equal(rank, 4), tf.equal(shape[-1], 1))),
        tf.reduce_all(tf.equal(shape[1:3], [28, 28])),
    )
    check = tf.debugging.Assert(
        ok, ["pixels must have shape [batch, 28, 28] or [batch, 28, 28, 1]; got", shape]
    )
    with tf.control_dependencies([check]):
        pixels = tf.reshape(pixels, [-1, 28, 28, 1])
    return tf.cast(pixels, tf.float32) / 255.0


# The finder does not depend on the model, so its two functions are traced once a process
# (``traced`` below) and called by every export's signatures: no export rebuilds its ~8,000
# ops twice, and an export after the first in a process not at all
# (docs/testing.md, "What an export costs"). autograph=False, as Keras's own endpoints:
# the finder is written in tf ops, its loops in tf.while_loop and tf.cond.
@tf.function(input_signature=[IMAGES], autograph=False)
def find_digits(images: tf.Tensor) -> tf.Tensor:
    """Encoded images [B] -> uint8 [B, 28, 28]: each one's digit, found and MNIST-framed."""
    spec = tf.TensorSpec([contract.SIZE, contract.SIZE], tf.uint8)
    return tf.map_fn(find.find_digit, images, fn_output_signature=spec)


@tf.function(input_signature=[IMAGES], autograph=False)
def find_numbers(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Encoded images [B] -> each one's digit crops uint8 [B, MAX_DIGITS, 28, 28], their
    boxes int32 [B, MAX_DIGITS, 4] and how many there are, int32 [B]."""
    most, size = contract.MAX_DIGITS, contract.SIZE
    return tf.map_fn(
        find.find_number,
        images,
        fn_output_signature=(
            tf.TensorSpec([most, size, size], tf.uint8),
            tf.TensorSpec([most, 4], tf.int32),
            tf.TensorSpec([], tf.int32),
        ),
    )


@functools.cache
def traced(finder: tf.types.experimental.PolymorphicFunction):
    """``finder``'s one trace, made once a process. Called as a concrete function, it is
    not traced again inside the SavedModel save, as the tf.function would be: the save's
    trace cache keys on its variable policy, and the finder holds no variables."""
    return finder.get_concrete_function()


def read_numbers(model: keras.Model, images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Encoded images [B] -> the outputs of ``serving_number`` (see the module's doc)."""
    most = contract.MAX_DIGITS
    crops, boxes, counts = traced(find_numbers)(images)
    present = tf.sequence_mask(counts, most)
    found = tf.boolean_mask(crops, present)
    probabilities = tf.scatter_nd(
        tf.where(present),
        model(pixels_to_floats(found), training=False),
        [tf.shape(images)[0], most, 10],
    )
    digits = tf.where(present, tf.argmax(probabilities, axis=-1), -1)
    shown = tf.where(present, tf.strings.as_string(digits), "")
    return {
        "number": tf.strings.reduce_join(shown, axis=1),
        "count": counts,
        "digits": digits,
        "probabilities": probabilities,
        "boxes": boxes,
        contract.NUMBER_DIGIT_IMAGES: crops,
    }


@contextlib.contextmanager
def function_calls_optimised_once() -> Iterator[None]:
    """Function calls made (traced) inside it are optimised by one round of Grappler's
    passes, without the TFG pass, when they first run.

    Every call op records the RewriterConfig its function is optimised with when it is
    first run, in the SavedModel too, so TF Serving follows it. That first run is what a
    version's warm-up waits for, and on the finder's ~3,800 inlined nodes Grappler was a
    large part of it: the TFG pass round-trips the graph through MLIR and changes nothing
    ("it won't run any optimizations right now", TensorFlow's meta_optimizer.cc), and the
    second of the default two rounds removed a few dozen nodes of ~2,150. Without
    them every output is the same (bit for bit on 184 captures) and so is a warm call;
    the first calls are shorter (docs/serving.md, "A version's first calls").
    """
    eager = context.context()
    saved = eager.function_call_options
    config = config_pb2.ConfigProto.FromString(saved.config_proto_serialized)
    rewrite = config.graph_options.rewrite_options
    rewrite.disable_tfg_optimizer = True
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    eager.function_call_options = context.FunctionCallOptions(saved.executor_type, config)
    try:
        yield
    finally:
        eager.function_call_options = saved


def build_archive(model: keras.Model) -> keras.export.ExportArchive:
    """An ExportArchive tracking ``model`` with the five signatures above."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def predict(floats: tf.Tensor) -> dict[str, tf.Tensor]:
        return _outputs(model(floats, training=False))

    archive.add_endpoint(
        name=contract.SERVING_DEFAULT,
        fn=lambda pixels: predict(pixels_to_floats(pixels)),
        input_signature=[PIXELS],
    )

    def read_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
        digits = traced(find_digits)(images)
        return {**predict(pixels_to_floats(digits)), "image": digits}

    archive.add_endpoint(name=contract.SERVING_IMAGES, fn=read_images, input_signature=[IMAGES])
    archive.add_endpoint(
        name=contract.SERVING_NUMBER,
        fn=lambda images: read_numbers(model, images),
        input_signature=[IMAGES],
    )
    archive.add_endpoint(name=contract.SERVING_FLOAT, fn=predict, input_signature=[FLOATS])
    archive.add_endpoint(
        name=contract.SERVING_EXPLAIN,
        fn=lambda images, label, learning_rate: explain.explain(
            model, images, label, learning_rate
        ),
        input_signature=EXPLAIN,
    )
    return archive
