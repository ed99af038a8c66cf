"""The networks we train, and the logits z our training step needs.

The default is the keras.io *Simple MNIST convnet*; ``lenet5`` and ``article`` are the
two networks the article discusses (``--model``).

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

from collections.abc import Callable

import keras
import tensorflow as tf

from mnist_convnet.network.deslant import Deslant
from mnist_convnet.network.networks import NETWORKS

NUM_CLASSES = 10  # the digits 0-9
IMAGE_SHAPE = (28, 28, 1)  # MNIST's grey 28x28 images, with a channel axis for Conv2D


def build_model(dropout: float = 0.5, deslant: bool = False) -> keras.Sequential:
    """The keras.io convnet, layer for layer (34,826 trainable parameters).

    ``dropout`` is the rate of its one Dropout layer: keras.io's 0.5 unless a recipe says
    otherwise (it changes no weight, only how training treats the 1,600 features).
    ``deslant`` puts a ``Deslant`` layer (no weights: ``deslant.py``) before the first
    convolution, so every digit the network is trained on or asked about stands upright.
    """
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            *([Deslant()] if deslant else []),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="keras_convnet",
    )


def build_lenet5() -> keras.Sequential:
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998), as close as Keras layers allow.

        input 28x28 padded to 32x32     (the paper centres digits in a 32x32 field)
        scaled so background = -0.1 and ink = 1.175, as the paper does: mean about 0,
        variance about 1, where tanh units learn well
        C1  6 @ 5x5 conv, tanh          -> 28x28x6
        S2  2x2 average subsampling     -> 14x14x6
        C3  16 @ 5x5 conv, tanh         -> 10x10x16
        S4  2x2 average subsampling     -> 5x5x16
        C5  120 @ 5x5 conv, tanh        -> 1x1x120
        F6  84 units, tanh
        output 10, softmax              61,706 parameters

    What we simplify: C3 connects to all six S2 maps (the paper wires each C3 map to a
    chosen subset, to break symmetry and save weights); S2/S4 are plain averages (the
    paper multiplies by a trainable coefficient, adds a bias and squashes); tanh is not
    scaled by 1.7159; the output is softmax + cross-entropy instead of Euclidean RBF units
    with the MAP criterion. The paper reports 0.95% test error; with the keras.io recipe
    (batch 128, constant 1e-3) this network overfits and reaches 98.64%, with
    ``--batch_size=32 --lr_schedule=cosine`` 98.94% (docs/networks.md).
    """
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            keras.layers.ZeroPadding2D(padding=2),
            keras.layers.Rescaling(scale=1.275, offset=-0.1),
            keras.layers.Conv2D(6, kernel_size=(5, 5), activation="tanh"),
            keras.layers.AveragePooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(16, kernel_size=(5, 5), activation="tanh"),
            keras.layers.AveragePooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(120, kernel_size=(5, 5), activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(84, activation="tanh"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="lenet5",
    )


def build_article() -> keras.Sequential:
    """The article's small network: conv 3x3 with 8 filters -> max-pool 2 -> dense softmax.

        28x28x1 -> conv 8 @ 3x3 (no activation, as in the article) -> 26x26x8
                -> max-pool 2x2 -> 13x13x8 -> flatten 1352 -> dense 10, softmax

    Max-pooling is its only non-linearity before the softmax; 13,610 parameters.
    """
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            keras.layers.Conv2D(8, kernel_size=(3, 3)),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="article",
    )


# Each network's builder, by the name its entry in networks.py gives.
MODELS: dict[str, Callable[[], keras.Sequential]] = {
    name: globals()[network.builder] for name, network in NETWORKS.items()
}


def build(
    name: str, precision: str = "float32", dropout: float | None = None, deslant: bool = False
) -> keras.Sequential:
    """The model called ``name`` (one of ``MODELS``), freshly initialised.

    ``precision="mixed_bfloat16"`` computes the layers in bfloat16 and keeps the weights
    in float32 (Keras' mixed-precision policy, set only while the layers are built).
    ``dropout``: the rate of its Dropout layer, for networks that have one (default: the
    builder's own). ``deslant``: a ``Deslant`` first layer, for networks that take one.
    """
    if dropout is not None and not NETWORKS[name].dropout:
        raise ValueError(f"{name} has no Dropout layer")
    if deslant and not NETWORKS[name].deslant:
        raise ValueError(f"{name} takes no Deslant layer")
    options = {"dropout": dropout} if dropout is not None else {}
    if deslant:
        options["deslant"] = True
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return MODELS[name](**options)
    finally:
        keras.config.set_dtype_policy(previous)


def logits(model: keras.Sequential, images: tf.Tensor, training: bool) -> tf.Tensor:
    """z = W h + b of the final Dense layer: the model's output before its softmax.

    ``softmax(logits(model, x))`` equals ``model(x)``; the loop differentiates the loss
    with respect to these z by hand (see ``backprop.softmax_cross_entropy``).
    """
    head = model.layers[-1]
    return tf.matmul(features(model, images, training), head.kernel) + head.bias


def features(model: keras.Sequential, images: tf.Tensor, training: bool) -> tf.Tensor:
    """h: what the final Dense layer reads, one row per image, in its weights' dtype
    (under mixed precision the body computes in bfloat16; z and the loss stay float32)."""
    h = images
    for layer in model.layers[:-1]:
        h = layer(h, training=training)
    return tf.cast(h, model.layers[-1].kernel.dtype)
