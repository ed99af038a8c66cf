"""step.py: the hand-written dL/dz = (p - y)/B against autodiff, and one training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.network import model as model_lib
from mnist_convnet.training import step


def _autodiff(z: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=z)
        )
    return loss, tape.gradient(loss, z)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_derivative_equals_autodiff(scale):
    rng = np.random.default_rng(int(scale))
    z = tf.constant(rng.normal(size=(64, 10)) * scale, tf.float64)
    labels = tf.constant(rng.integers(0, 10, size=64))
    loss, dL_dz = step.softmax_cross_entropy(z, labels)
    auto_loss, auto_dL_dz = _autodiff(z, labels)
    assert np.isfinite(loss.numpy())
    np.testing.assert_allclose(loss.numpy(), auto_loss.numpy(), rtol=1e-9)
    np.testing.assert_allclose(dL_dz.numpy(), auto_dL_dz.numpy(), atol=1e-6, rtol=0)


def test_derivative_is_p_minus_y_over_batch():
    z = tf.constant([[2.0, 1.0, 0.1] + [0.0] * 7, [0.0] * 10], tf.float64)
    labels = tf.constant([0, 3])
    _, dL_dz = step.softmax_cross_entropy(z, labels)
    p = tf.nn.softmax(z).numpy()
    y = np.eye(10)[[0, 3]]
    np.testing.assert_allclose(dL_dz.numpy(), (p - y) / 2, atol=1e-15)
    np.testing.assert_allclose(dL_dz.numpy().sum(axis=1), 0.0, atol=1e-15)  # Σ_j (p_j − y_j) = 0


def _batch(n: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.random((n, 28, 28, 1)), tf.float32)
    labels = tf.constant(rng.integers(0, 10, size=n))
    return images, labels


def test_step_gradients_equal_autodiff_of_the_keras_loss():
    keras.utils.set_random_seed(1)
    model = model_lib.build_model()
    images, labels = _batch()
    _, loss, _, grads = step.tape_gradients(model, images, labels, training=False)
    with tf.GradientTape() as tape:
        probabilities = model(images, training=False)
        keras_loss = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    auto_grads = tape.gradient(keras_loss, model.trainable_variables)
    np.testing.assert_allclose(loss.numpy(), keras_loss.numpy(), rtol=1e-5)
    for ours, auto, var in zip(grads, auto_grads, model.trainable_variables):
        np.testing.assert_allclose(ours.numpy(), auto.numpy(), atol=1e-6, err_msg=var.path)


def test_backpropagating_dL_dz_with_dropout_on_equals_autodiff():
    """Same forward pass (one dropout mask): our dL/dz through the tape vs the tape alone."""
    keras.utils.set_random_seed(2)
    model = model_lib.build_model()
    images, labels = _batch(seed=1)
    with tf.GradientTape(persistent=True) as tape:
        z = model_lib.logits(model, images, training=True)
        auto_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=z)
        )
    _, dL_dz = step.softmax_cross_entropy(z, labels)
    ours = tape.gradient(z, model.trainable_variables, output_gradients=dL_dz)
    auto = tape.gradient(auto_loss, model.trainable_variables)
    for a, b in zip(ours, auto):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_train_step_updates_every_weight_and_lowers_the_batch_loss():
    keras.utils.set_random_seed(3)
    model = model_lib.build_model()
    optimizer = keras.optimizers.Adam(1e-3)
    images, labels = _batch(64, seed=2)
    before = [v.numpy().copy() for v in model.trainable_variables]
    first = step.eval_step(model, images, labels)
    for _ in range(20):
        metrics = step.train_step(model, optimizer, images, labels)
    assert metrics.count.numpy() == 64
    after = step.eval_step(model, images, labels)
    assert after.loss_sum.numpy() < first.loss_sum.numpy()
    for old, var in zip(before, model.trainable_variables):
        assert not np.allclose(old, var.numpy()), var.path
