"""One training step, with the softmax–cross-entropy derivative written out by hand.

The article's equations, for one image with logits z (10 numbers), true class c and its
one-hot label y:

    (1)  p_i   = e^{z_i} / Σ_j e^{z_j}                  softmax
    (2)  L     = −Σ_i y_i ln p_i = −ln p_c               cross-entropy
    (3)  ∂p_i/∂z_j = p_i (δ_ij − p_j)                    softmax Jacobian
    (4)  ∂L/∂z_j = Σ_i (−y_i / p_i) p_i (δ_ij − p_j) = p_j − y_j

``softmax_cross_entropy`` (in ``backprop``) returns L and (4). Two ways then carry (4)
back to the weights, chosen with ``--gradients``:

    tape    ``tape_gradients``: the tape is handed (4) as the output gradient of z and
            applies the chain rule through the layers (the default);
    manual  ``backprop.loss_gradients``: the article's per-layer derivations, written out.

The road of a batch: ``make_train_function`` builds the ``tf.function`` the loop calls; each
call takes up to ``--steps_per_call`` batches, runs ``train_step`` on every replica
(``strategy.run``) with the chosen gradient function, and adds the batches'
``StepMetrics`` to the running sums.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from mnist_convnet.network import backprop
from mnist_convnet.network.backprop import softmax_cross_entropy
from mnist_convnet.network.model import logits
from mnist_convnet.training.config import Config

GradientFn = Callable[..., tuple[tf.Tensor, tf.Tensor, tf.Tensor, list]]


class StepMetrics(NamedTuple):
    """Sums over batches (one, or an epoch's so far), so that means are exact whatever the
    batch sizes. Tensors inside a step; float64 NumPy values in the loop."""

    loss_sum: tf.Tensor | float
    correct: tf.Tensor | float
    count: tf.Tensor | float
    dlogits_norm_sum: tf.Tensor | float

    @classmethod
    def zeros(cls) -> StepMetrics:
        return cls(*np.zeros(len(cls._fields)))

    def plus(self, other: StepMetrics) -> StepMetrics:
        return StepMetrics(*(a + b for a, b in zip(self, other)))

    def means(self) -> dict[str, float]:
        """loss, accuracy and mean ‖∂L/∂z‖ per image."""
        return {
            "loss": float(self.loss_sum / self.count),
            "accuracy": float(self.correct / self.count),
            "dlogits_norm": float(self.dlogits_norm_sum / self.count),
        }


METRIC_NAMES = ("loss", "accuracy", "dlogits_norm")


def _metrics(
    z: tf.Tensor,
    labels: tf.Tensor,
    loss: tf.Tensor,
    dL_dz: tf.Tensor,
    batch_size: tf.Tensor | None = None,
) -> StepMetrics:
    """Sums over this replica's rows; L and ∂L/∂z were averaged over ``batch_size`` rows."""
    rows = tf.cast(tf.shape(z)[0], tf.float32)
    scale = rows if batch_size is None else tf.cast(batch_size, tf.float32)
    predicted = tf.argmax(z, axis=-1, output_type=labels.dtype)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))
    # ‖p − y‖ per image (in [0, √2]): how wrong the network still is, image by image.
    per_image = tf.norm(tf.cast(dL_dz, tf.float32), axis=-1) * scale
    return StepMetrics(
        loss_sum=tf.cast(loss, tf.float32) * scale,
        correct=correct,
        count=rows,
        dlogits_norm_sum=tf.reduce_sum(per_image),
    )


def global_batch_size(images: tf.Tensor) -> tf.Tensor:
    """Rows in this step's whole batch, across every replica of a ``tf.distribute`` strategy
    (just this batch's rows without one): the B that L and ∂L/∂z average over."""
    rows = tf.shape(images)[0]
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, rows)


def tape_gradients(
    model: keras.Model,
    images: tf.Tensor,
    labels: tf.Tensor,
    training: bool = True,
    batch_size: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]:
    """Forward to z, form ∂L/∂z by hand, backpropagate exactly that tensor.

    ``tape.gradient(z, w, output_gradients=∂L/∂z)`` is the vector–Jacobian product
    Σ_{b,j} ∂L/∂z_{bj} · ∂z_{bj}/∂w, i.e. the chain rule ∂L/∂w with our ∂L/∂z plugged in.

    Returns:
      ``(z, L, ∂L/∂z, [∂L/∂w for w in model.trainable_variables])``.
    """
    with tf.GradientTape() as tape:
        z = logits(model, images, training=training)
    loss, dL_dz = softmax_cross_entropy(z, labels, batch_size)
    grads = tape.gradient(z, model.trainable_variables, output_gradients=dL_dz)
    return z, loss, dL_dz, grads


def train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    images: tf.Tensor,
    labels: tf.Tensor,
    gradients: GradientFn = tape_gradients,
) -> StepMetrics:
    """One optimizer update on one batch (dropout on); returns the batch's metric sums.

    Inside ``strategy.run`` this is one replica's share: its gradients are averaged over
    the global batch, and Keras' optimizer sums them across replicas before the update.
    """
    batch_size = global_batch_size(images)
    z, loss, dL_dz, grads = gradients(model, images, labels, True, batch_size)
    optimizer.apply(grads, model.trainable_variables)
    return _metrics(z, labels, loss, dL_dz, batch_size)


def eval_step(model: keras.Model, images: tf.Tensor, labels: tf.Tensor) -> StepMetrics:
    """Metric sums of one batch in inference mode (dropout off), no update."""
    z = logits(model, images, training=False)
    loss, dL_dz = softmax_cross_entropy(z, labels)
    return _metrics(z, labels, loss, dL_dz)


GRADIENTS: dict[str, GradientFn] = {"tape": tape_gradients, "manual": backprop.loss_gradients}

TrainFunction = Callable[[object, tf.Tensor, StepMetrics], tuple[StepMetrics, tf.Tensor]]


def make_train_function(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
    config: Config,
) -> TrainFunction:
    """The function the loop calls: ``train_function(iterator, count, sums)`` takes up to
    ``count`` steps, each on every replica, adds each step's metrics (summed across
    replicas) to ``sums`` in float64, step by step as one step per call would, and returns
    ``(sums, steps taken)``. It ends early after a step whose loss is not finite."""
    gradients = GRADIENTS[config.gradients]
    replica_step = functools.partial(train_step, model, optimizer, gradients=gradients)
    if config.jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)
    return tf.function(functools.partial(_train_steps, strategy, replica_step))


def _train_steps(strategy, replica_step, iterator, count: tf.Tensor, sums: StepMetrics):
    taken = tf.constant(0)
    for _ in tf.range(count):
        images, labels = next(iterator)
        per_replica = strategy.run(replica_step, args=(images, labels))
        metrics = StepMetrics(
            *(strategy.reduce(tf.distribute.ReduceOp.SUM, m, axis=None) for m in per_replica)
        )
        sums = sums.plus(StepMetrics(*(tf.cast(m, tf.float64) for m in metrics)))
        taken += 1
        if not tf.math.is_finite(metrics.loss_sum):
            break
    return sums, taken


def make_eval_step(model: keras.Model) -> Callable[[tf.Tensor, tf.Tensor], StepMetrics]:
    """``eval_step`` for this model, as one ``tf.function``."""
    return tf.function(functools.partial(eval_step, model))
