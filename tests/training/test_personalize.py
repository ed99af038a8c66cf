"""personalize.py: a writer's digits learned by the article's gradient descent, MNIST kept."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.errors import UserError
from mnist_convnet.network.backprop import softmax_cross_entropy
from mnist_convnet.network.model import logits
from mnist_convnet.reading import inference
from mnist_convnet.training import data
from mnist_convnet.training import personalize as personalize_lib
from mnist_convnet.training.personalize import Personalization
from testbed import writers


@pytest.fixture(scope="module")
def replay(mnist):
    return data.as_numpy(mnist.train, 2048)


@pytest.fixture(scope="module")
def validation(mnist):
    return data.as_numpy(mnist.validation, 2000)


def _found(saved_model, style: str, count: int, seed: int) -> np.ndarray:
    """``count`` digits of a drawn style, as ``serving_images`` frames them."""
    read = saved_model.signatures["serving_images"]

    def find(encoded: bytes) -> np.ndarray | None:
        try:
            return read(images=tf.constant([encoded]))["image"][0].numpy()
        except tf.errors.InvalidArgumentError:
            return None

    return writers.found_digits(find, style, count, seed)


def _accuracy(model, images, labels) -> float:
    return float((model.predict(images, verbose=0).argmax(1) == labels).mean())


def test_a_writers_flagged_ones_are_learned_and_mnist_is_kept(
    exported, saved_model, replay, validation
):
    """Five of each digit in one hand — 1s with a long flag, the rest plain — and the
    flagged 1s the model had not seen read right far more often; MNIST barely moves."""
    model = inference.load_keras_model(exported)
    unseen = _found(saved_model, "one_flag", 60, seed=11).astype(np.float32)[..., None] / 255
    before = _accuracy(model, unseen, np.ones(60)), _accuracy(model, *validation)
    styles = {**writers.PLAIN, 1: "one_flag"}
    images = np.concatenate([_found(saved_model, styles[d], 5, seed=d) for d in range(10)])
    labels = np.repeat(np.arange(10), 5)
    report = personalize_lib.personalize(model, images, labels, *replay)
    after = _accuracy(model, unseen, np.ones(60)), _accuracy(model, *validation)
    assert report["loss_after"] < report["loss_before"] / 2
    assert after[0] >= min(0.95, before[0] + 0.25), (before, after)
    assert after[1] >= before[1] - 0.005, (before, after)


@pytest.mark.parametrize("layers", ["dense", "all"])
def test_the_chosen_layers_and_only_they_move(exported, replay, layers):
    model = inference.load_keras_model(exported)
    before = [v.numpy().copy() for v in model.trainable_variables]
    images, labels = replay[0][:20], replay[1][:20]
    personalize_lib.personalize(
        model, images, labels, *replay, Personalization(steps=3, layers=layers)
    )
    moved = [not np.array_equal(a, v.numpy()) for a, v in zip(before, model.trainable_variables)]
    assert moved == (
        [False] * (len(moved) - 2) + [True, True] if layers == "dense" else [True] * len(moved)
    )


def test_the_dense_step_by_hand_is_the_tapes_gradient(exported, replay):
    """One step on the Dense layer by the equations (∂L/∂W = hᵀ (p − y)/B) lands where
    the tape's gradient of the same loss takes it."""
    images, labels = replay[0][:32], replay[1][:32]
    by_hand = inference.load_keras_model(exported)
    options = Personalization(steps=1, learning_rate=0.5, replay=0)
    personalize_lib.personalize(by_hand, images, labels, *replay, options)
    taped = inference.load_keras_model(exported)
    head = taped.layers[-1]
    with tf.GradientTape() as tape:
        loss, _ = softmax_cross_entropy(logits(taped, tf.constant(images), False), labels)
    for variable, gradient in zip(
        head.trainable_variables, tape.gradient(loss, head.trainable_variables)
    ):
        variable.assign_sub(0.5 * gradient)
    for a, b in zip(by_hand.layers[-1].trainable_variables, head.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((0, 28, 28), np.uint8), np.zeros(0, int), "no digits"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros(2, int), "3 digits but 2 labels"),
        (np.zeros((2, 28, 28), np.uint8), np.array([1, 10]), "labels must be digits"),
        (np.zeros((2, 32, 32), np.uint8), np.array([1, 2]), "must be 28x28"),
    ],
)
def test_bad_examples_are_one_clear_error(exported, replay, images, labels, message):
    model = inference.load_keras_model(exported)
    with pytest.raises(UserError, match=message):
        personalize_lib.personalize(model, images, labels, *replay)


@pytest.mark.parametrize(
    "field, value, message",
    [("steps", 0, "steps"), ("learning_rate", 0.0, "learning_rate"), ("layers", "conv", "layers")],
)
def test_bad_options_are_refused(field, value, message):
    with pytest.raises(UserError, match=message):
        Personalization(**{field: value})
