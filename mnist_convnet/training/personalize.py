"""Teaching the network one writer's hand: a few of their digits, a few steps of the
article's gradient descent, MNIST replayed beside them.

However well a model generalises, a hand has habits no training set shows (a 1 with a
long flag, a 0 with a slash). Given a writer's digits with their labels — 28x28, as the
digit-finder frames them — each step takes all of them and ``replay`` MNIST training
digits, and moves the chosen layers' weights down the gradient of their mean
cross-entropy, with the derivative the article derives (``backprop.softmax_cross_entropy``):

    ∂L/∂z = (p − y) / B          (4), for the B digits of the step
    W ← W − η ∂L/∂W               plain gradient descent, the article's rule

Only the Dense layer moves by default (``layers="dense"``: 16,010 of the keras.io
network's 34,826 weights): the convolutions' features already see strokes, slants and
loops; what a new hand needs is a new weighing of them. The MNIST digits in every step
keep that weighing from forgetting MNIST's own writers. Dropout is off: with so few
examples, every step sees the whole network.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from mnist_convnet.errors import UserError
from mnist_convnet.network.backprop import softmax_cross_entropy
from mnist_convnet.network.model import NUM_CLASSES, features, logits


@dataclasses.dataclass(frozen=True)
class Personalization:
    """How a writer's digits are learned (chosen on the writers' tuning seed:
    docs/personalize.md)."""

    steps: int = 200
    learning_rate: float = 1.0
    replay: int = 256  # MNIST training digits beside the writer's in every step
    pool: int = 4096  # the MNIST digits those are drawn from
    layers: str = "dense"  # "dense" or "all"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise UserError(f"steps must be at least 1, not {self.steps}")
        if not self.learning_rate > 0:
            raise UserError(f"learning_rate must be greater than 0, not {self.learning_rate}")
        if self.replay < 0:
            raise UserError(f"replay must be at least 0, not {self.replay}")
        if self.layers not in ("dense", "all"):
            raise UserError(f"layers must be one of dense, all, not {self.layers!r}")


def personalize(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    replay_images: np.ndarray,
    replay_labels: np.ndarray,
    options: Personalization = Personalization(),
) -> dict:
    """Updates ``model`` in place to read the writer of ``images`` (uint8 or float
    [k, 28, 28(, 1)], labels int [k]); returns the loss on their digits before and
    after, and the seconds it took."""
    writer = _as_input(images)
    targets = np.asarray(labels, np.int64)
    _check(writer, targets)
    rng = np.random.default_rng(options.seed)
    chosen = rng.permutation(len(replay_labels))[: options.pool if options.replay else 0]
    replay = _as_input(np.asarray(replay_images)[chosen]) if len(chosen) else None
    replay_targets = np.asarray(replay_labels, np.int64)[chosen]
    before = _loss(model, writer, targets)
    started = time.perf_counter()
    learn = _dense_steps if options.layers == "dense" else _tape_steps
    learn(model, (writer, targets), (replay, replay_targets), options, rng)
    return {
        "examples": int(len(targets)),
        "loss_before": round(before, 4),
        "loss_after": round(_loss(model, writer, targets), 4),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _batches(writer, replay, options: Personalization, rng):
    """Each step's rows: every writer digit, and ``replay`` of the MNIST pool."""
    (x, y), (pool_x, pool_y) = writer, replay
    for _ in range(options.steps):
        if not len(pool_y):
            yield x, y
            continue
        pick = rng.choice(len(pool_y), min(options.replay, len(pool_y)), replace=False)
        yield tf.concat([x, tf.gather(pool_x, pick)], 0), np.concatenate([y, pool_y[pick]])


def _dense_steps(model, writer, replay, options: Personalization, rng) -> None:
    """The Dense layer by the equations above, on features computed once."""
    head = model.layers[-1]
    pool = None if replay[0] is None else features(model, replay[0], training=False)
    rows = ((features(model, writer[0], training=False), writer[1]), (pool, replay[1]))
    for h, y in _batches(*rows, options, rng):
        z = tf.matmul(h, head.kernel) + head.bias
        _, dz = softmax_cross_entropy(z, tf.constant(y))
        head.kernel.assign_sub(options.learning_rate * tf.matmul(h, dz, transpose_a=True))
        head.bias.assign_sub(options.learning_rate * tf.reduce_sum(dz, axis=0))


def _tape_steps(model, writer, replay, options: Personalization, rng) -> None:
    """Every weight: ∂L/∂z by hand, back through the network by the tape."""
    variables = list(model.trainable_variables)
    for x, y in _batches(writer, replay, options, rng):
        _descend(model, variables, x, tf.constant(y), options.learning_rate)


def _descend(model, variables, x: tf.Tensor, y: tf.Tensor, rate: float) -> None:
    """One step: z forward, ∂L/∂z = (p − y)/B by hand, back to the weights by the tape."""
    with tf.GradientTape() as tape:
        z = logits(model, x, training=False)
    _, dz = softmax_cross_entropy(z, y)
    for variable, gradient in zip(variables, tape.gradient(z, variables, output_gradients=dz)):
        variable.assign_sub(rate * gradient)


def _loss(model: keras.Model, x: tf.Tensor, y: np.ndarray) -> float:
    loss, _ = softmax_cross_entropy(logits(model, x, training=False), tf.constant(y))
    return float(loss)


def _as_input(images: np.ndarray) -> tf.Tensor:
    """uint8 pixels or floats in [0, 1], [k, 28, 28] or [k, 28, 28, 1] -> float32 NHWC."""
    array = np.asarray(images)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:] != (28, 28, 1):
        raise UserError(f"digits must be 28x28 images, not an array of shape {array.shape}")
    return tf.constant(array)


def _check(images: tf.Tensor, labels: np.ndarray) -> None:
    if images.shape[0] == 0:
        raise UserError("no digits to learn from")
    if images.shape[0] != len(labels):
        raise UserError(f"{images.shape[0]} digits but {len(labels)} labels")
    if not ((labels >= 0) & (labels < NUM_CLASSES)).all():
        raise UserError(f"labels must be digits 0-{NUM_CLASSES - 1}")
