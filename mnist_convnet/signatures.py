"""What a served model accepts and returns: the SavedModel's signatures.

    serving_default   pixels  uint8 [batch, 28, 28] or [batch, 28, 28, 1], 0-255,
                              white digit on black as in MNIST
    serving_images    images  string [batch]: encoded PNG/JPEG/GIF/BMP, any size, grey or
                              colour — what TF Serving REST clients send as {"b64": ...};
                              decoded, turned grey and resized to 28x28 in the graph
    serving_float     images  float32 [batch, 28, 28, 1] in [0, 1]: the Keras model's own
                              input, used for the TF Lite conversion

Every signature returns ``probabilities`` float32 [batch, 10] and ``classes`` int64 [batch].
Scaling (x / 255) happens inside, so a client never needs to know how we normalise.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PIXELS = tf.TensorSpec(shape=None, dtype=tf.uint8, name="pixels")
IMAGES = tf.TensorSpec(shape=[None], dtype=tf.string, name="images")
FLOATS = tf.TensorSpec(shape=[None, 28, 28, 1], dtype=tf.float32, name="images")


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


def decode_images(images: tf.Tensor) -> tf.Tensor:
    """Encoded image bytes [B] -> uint8 [B, 28, 28, 1]: decode, grey, resize (area-averaged)."""

    def decode_one(encoded: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(encoded, channels=1, dtype=tf.uint8, expand_animations=False)
        image = tf.image.resize(image, [28, 28], method="area")
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    return tf.map_fn(decode_one, images, fn_output_signature=tf.TensorSpec([28, 28, 1], tf.uint8))


def build_archive(model: keras.Model) -> keras.export.ExportArchive:
    """An ExportArchive tracking ``model`` with the three signatures above."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def predict(floats: tf.Tensor) -> dict[str, tf.Tensor]:
        return _outputs(model(floats, training=False))

    archive.add_endpoint(
        name="serving_default",
        fn=lambda pixels: predict(pixels_to_floats(pixels)),
        input_signature=[PIXELS],
    )
    archive.add_endpoint(
        name="serving_images",
        fn=lambda images: predict(pixels_to_floats(decode_images(images))),
        input_signature=[IMAGES],
    )
    archive.add_endpoint(name="serving_float", fn=predict, input_signature=[FLOATS])
    return archive
