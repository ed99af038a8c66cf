"""Deslanting: each digit's rows shifted so that its ink stands upright.

Hands slant; MNIST's writers slant little, other writers a lot. The slant of a digit is
read from the second moments of its ink (the normalisation MNIST's own authors tried:
LeCun et al. 1998 report it roughly halves k-NN's error), and undone by a shear:

    c_y, c_x = Σ y·I / Σ I,  Σ x·I / Σ I          the centre of the ink
    s = Σ (x − c_x)(y − c_y)·I / Σ (y − c_y)²·I   columns moved per row down
    out[y, x] = in[y, x + s·(y − c_y)]            the shear that makes s = 0

The shifted rows are read by linear interpolation, written as one matrix per row,

    W[y, x, x'] = max(0, 1 − |x + s·(y − c_y) − x'|),   out[y] = W[y] · in[y],

so that every op is a TF Lite builtin (sums, products, abs, maximum, batch matmul): the
same layer runs in the SavedModel, each ``.tflite`` classifier and ``reader.tflite``.
Training reads the same shear with TensorFlow's image-transform kernel instead
(``resampled``): the same numbers to float rounding, at less than half the cost of the
[B, 28, 28, 28] matrices, on a kernel TF Lite lacks — so it is never exported.

As the model's first layer (``Deslant``, ``--deslant``), it straightens what the model
is trained on and what it is asked about alike: MNIST, augmented batches, pixels sent to
``serving_default`` and digits found in photos.
"""

from __future__ import annotations

import keras
import tensorflow as tf

SIZE = 28


def slant(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(c_y, s) of each image (float32 [B, 28, 28, 1]): the ink's centre row and its
    slant in columns per row down, float32 [B] each."""
    ink = images[..., 0]
    index = tf.range(SIZE, dtype=tf.float32)
    rows, cols = index[None, :, None], index[None, None, :]
    mass = tf.maximum(tf.reduce_sum(ink, [1, 2]), 1e-6)
    c_y = tf.reduce_sum(ink * rows, [1, 2]) / mass
    c_x = tf.reduce_sum(ink * cols, [1, 2]) / mass
    dy = rows - c_y[:, None, None]
    dx = cols - c_x[:, None, None]
    slope = tf.reduce_sum(ink * dx * dy, [1, 2]) / tf.maximum(
        tf.reduce_sum(ink * dy * dy, [1, 2]), 1e-6
    )
    return c_y, slope


def shear_matrices(images: tf.Tensor) -> tf.Tensor:
    """W of each image (float32 [B, 28, 28, 1]): float32 [B, 28 rows, 28 out, 28 in]."""
    c_y, slope = slant(images)
    index = tf.range(SIZE, dtype=tf.float32)
    shift = slope[:, None] * (index[None, :] - c_y[:, None])  # [B, rows]
    source = index[None, None, :, None] + shift[:, :, None, None]  # [B, rows, out, 1]
    return tf.maximum(0.0, 1.0 - tf.abs(source - index[None, None, None, :]))


def deslant(images: tf.Tensor) -> tf.Tensor:
    """The images (float32 [B, 28, 28, 1]) sheared upright: ``out[y] = W[y] · in[y]``."""
    return tf.matmul(shear_matrices(images), images)


def resampled(images: tf.Tensor) -> tf.Tensor:
    """``deslant`` by ImageProjectiveTransformV3: output (x, y) reads input
    (x + s·y − s·c_y, y), bilinearly with zeros outside — along a row, the same tent
    weights as W; across rows, exact. What training runs; not a TF Lite builtin."""
    c_y, slope = slant(images)
    one, zero = tf.ones_like(slope), tf.zeros_like(slope)
    transforms = tf.stack([one, slope, -slope * c_y, zero, one, zero, zero, zero], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([SIZE, SIZE]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


@keras.saving.register_keras_serializable(package="mnist_convnet")
class Deslant(keras.layers.Layer):
    """``deslant`` as a layer without weights, computed in float32 whatever the policy:
    ``resampled`` while training, the builtins' matrices in every traced or served call."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, images: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        images = tf.cast(images, tf.float32)
        return resampled(images) if training else deslant(images)

    def compute_output_shape(self, input_shape):
        return input_shape
