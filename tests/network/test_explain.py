"""explain.py: one digit's forward and backward pass, every array checked against
tf.GradientTape on the same Keras model (float32, relative error <= 1e-4)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.network import explain
from mnist_convnet.network import model as model_lib

RTOL = 1e-4  # max |ours - tape| / max |tape|, for every array


def _rel_err(ours, reference) -> float:
    ours, reference = np.asarray(ours), np.asarray(reference)
    return float(np.max(np.abs(ours - reference)) / max(np.max(np.abs(reference)), 1e-30))


def _tape(model: keras.Sequential, image: np.ndarray, label: int, learning_rate: float) -> dict:
    """The same quantities from Keras' own layers and autodiff: each layer's output, the
    gradients of L = -ln p_label with respect to every output, weight and the image, and
    the loss after one step W <- W - lr dL/dW on a clone of the model."""
    x = tf.constant(image[np.newaxis])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs, h = [], x
        for layer in model.layers[:-1]:
            h = layer(h, training=False)
            outputs.append(h)
        head = model.layers[-1]
        z = tf.matmul(h, head.kernel) + head.bias  # the logits; softmax is in the loss
        outputs.append(z)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits([label], z)[0]
    variables = model.trainable_variables
    d_outputs, dx, d_weights = tape.gradient(loss, (outputs, x, variables))
    stepped = keras.models.clone_model(model)
    stepped.set_weights(
        [v.numpy() - learning_rate * g.numpy() for v, g in zip(variables, d_weights)]
    )
    loss_after = tf.nn.sparse_softmax_cross_entropy_with_logits(
        [label], model_lib.logits(stepped, x, training=False)
    )[0]
    return {
        "outputs": [o[0].numpy() for o in outputs],
        "d_outputs": [d[0].numpy() for d in d_outputs],
        "dL_dx": dx[0, :, :, 0].numpy(),
        "d_weights": {v.path: g.numpy() for v, g in zip(variables, d_weights)},
        "loss": float(loss),
        "loss_after_step": float(loss_after),
        "probabilities": tf.nn.softmax(z)[0].numpy(),
    }


def _explain(model, images, labels, learning_rate=0.05) -> dict[str, np.ndarray]:
    count = len(images)
    out = explain.explain(
        model,
        tf.constant(images, tf.float32),
        tf.constant(labels, tf.int64),
        tf.fill([count], tf.constant(learning_rate, tf.float32)),
    )
    return {k: v.numpy() for k, v in out.items()}


def _check_against_tape(model, images, labels, learning_rate=0.05) -> None:
    ours = _explain(model, images, labels, learning_rate)
    for b, (image, asked) in enumerate(zip(images, labels)):
        label = int(ours["label"][b])
        if asked >= 0:
            assert label == asked
        reference = _tape(model, image, label, learning_rate)
        assert _rel_err(ours["probabilities"][b], reference["probabilities"]) <= RTOL
        y = np.eye(10)[label]
        assert _rel_err(ours["dL_dz"][b], reference["probabilities"] - y) <= RTOL  # (4)
        assert ours["loss"][b] == pytest.approx(reference["loss"], rel=RTOL)
        assert ours["loss_after_step"][b] == pytest.approx(reference["loss_after_step"], rel=RTOL)
        assert _rel_err(ours["dL_dx"][b], reference["dL_dx"]) <= RTOL
        for i, layer in enumerate(model.layers):
            assert ours["layer_names"][b][i].decode() == layer.name
            assert ours["layer_kinds"][b][i].decode() == type(layer).__name__
            assert _rel_err(ours[f"layer{i}/output"][b], reference["outputs"][i]) <= RTOL
            assert _rel_err(ours[f"layer{i}/dL_doutput"][b], reference["d_outputs"][i]) <= RTOL
            for name in ("kernel", "bias"):
                if hasattr(layer, name):
                    wanted = reference["d_weights"][getattr(layer, name).path]
                    assert _rel_err(ours[f"layer{i}/dL_d{name}"][b], wanted) <= RTOL, layer.name


def test_the_trained_model_on_test_digits_matches_autodiff(short_run, test_digits):
    model = short_run[0].model
    pixels, truth = test_digits
    images = pixels[:4, ..., np.newaxis].astype(np.float32) / 255
    wrong = (truth[:2] + 3) % 10  # the learner picks another digit: a large p - y
    _check_against_tape(model, images, [-1, int(truth[1]), *wrong.tolist()])


@pytest.mark.parametrize("name", ["lenet5", "article"])
def test_the_other_networks_match_autodiff(name):
    """Padding, rescaling, tanh and average pooling (LeNet-5); no hidden layer (article)."""
    keras.utils.set_random_seed(0)
    model = model_lib.build(name)
    images = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    _check_against_tape(model, images, [-1, 4])


def test_minus_one_explains_the_prediction_and_the_weights_never_change(short_run, test_digits):
    model = short_run[0].model
    pixels, _ = test_digits
    images = pixels[:3, ..., np.newaxis].astype(np.float32) / 255
    before = [v.numpy().copy() for v in model.trainable_variables]
    ours = _explain(model, images, [-1, -1, -1], learning_rate=1.0)
    predicted = np.argmax(model(images, training=False), axis=-1)
    np.testing.assert_array_equal(ours["label"], predicted)
    for v, old in zip(model.trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), old)


def test_a_step_down_the_gradient_lowers_the_loss(short_run, test_digits):
    """The article's last lesson: W <- W - lr dL/dW makes this digit's label more likely."""
    pixels, truth = test_digits
    images = pixels[:4, ..., np.newaxis].astype(np.float32) / 255
    ours = _explain(short_run[0].model, images, ((truth[:4] + 5) % 10).tolist(), 0.01)
    assert np.all(ours["loss_after_step"] < ours["loss"])
    zero = _explain(short_run[0].model, images, ((truth[:4] + 5) % 10).tolist(), 0.0)
    np.testing.assert_allclose(zero["loss_after_step"], zero["loss"], rtol=1e-6)


def test_max_pooling_routes_the_gradient_to_the_winners_only(short_run, test_digits):
    """Section 4: below a 2x2 max-pool, each window's gradient sits on one cell at most."""
    pixels, truth = test_digits
    ours = _explain(short_run[0].model, pixels[:1, ..., None].astype(np.float32) / 255, [3])
    d = ours["layer2/dL_doutput"][0][:10, :10]  # conv2d_1's output, under max_pooling2d_1
    windows = d.reshape(5, 2, 5, 2, -1).transpose(0, 2, 4, 1, 3).reshape(5, 5, -1, 4)
    assert np.all(np.count_nonzero(windows, axis=-1) <= 1)
    assert np.count_nonzero(windows) > 0
    pooled_grad = ours["layer3/dL_doutput"][0]
    np.testing.assert_allclose(windows.sum(-1), pooled_grad, rtol=1e-6)
