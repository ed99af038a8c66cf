"""The keras.io *Simple MNIST convnet*, and the logits z our training step needs.

    Input 28x28x1
    Conv2D 32 3x3 relu     -> 26x26x32     320 parameters  (3*3*1*32 + 32)
    MaxPooling2D 2         -> 13x13x32
    Conv2D 64 3x3 relu     -> 11x11x64  18,496 parameters  (3*3*32*64 + 64)
    MaxPooling2D 2         ->  5x5x64
    Flatten                -> 1600
    Dropout 0.5
    Dense 10 softmax       -> 10        16,010 parameters  (1600*10 + 10)
                                        ------
                                        34,826

The model ends in softmax, exactly as keras.io writes it, so what is exported and served
returns probabilities. Training needs the step before: the logits ``z = W h + b`` of the
last Dense layer, so that it can form the article's dL/dz = p - y itself. ``logits``
computes z from the same layers and weights, leaving the softmax to the loss.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mnist_convnet.data import IMAGE_SHAPE, NUM_CLASSES


def build_model() -> keras.Sequential:
    """The keras.io convnet, layer for layer (34,826 trainable parameters)."""
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="keras_convnet",
    )


def logits(model: keras.Sequential, images: tf.Tensor, training: bool) -> tf.Tensor:
    """z = W h + b of the final Dense layer: the model's output before its softmax.

    ``softmax(logits(model, x))`` equals ``model(x)``; the loop differentiates the loss
    with respect to these z by hand (see ``step.softmax_cross_entropy``).
    """
    h = images
    for layer in model.layers[:-1]:
        h = layer(h, training=training)
    head = model.layers[-1]
    return tf.matmul(h, head.kernel) + head.bias
