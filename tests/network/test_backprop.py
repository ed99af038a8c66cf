"""backprop.py: every hand-written backward against tf.GradientTape, the article's worked
examples with their exact numbers, and whole-model gradients equal to the tape's."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.network import backprop as bp
from mnist_convnet.network import model as model_lib
from mnist_convnet.training import step

RTOL = 1e-9  # max relative error allowed between our backward and autodiff, in float64

ARTICLE_IMAGE = [[0, 50, 0, 29], [0, 80, 31, 2], [33, 90, 0, 75], [0, 9, 0, 95]]
VERTICAL_SOBEL = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
HORIZONTAL_SOBEL = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]


def _rel_err(ours, reference) -> float:
    ours, reference = np.asarray(ours), np.asarray(reference)
    return float(np.max(np.abs(ours - reference)) / max(np.max(np.abs(reference)), 1e-300))


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f64(array) -> tf.Tensor:
    return tf.constant(np.asarray(array, dtype=np.float64))


def _vjp(fn, *inputs, dout):
    """Autodiff reference: gradients of Σ fn(inputs) · dout with respect to each input."""
    with tf.GradientTape() as tape:
        for x in inputs:
            tape.watch(x)
        out = fn(*inputs)
    return out, tape.gradient(out, inputs, output_gradients=dout)


def _as_image(rows) -> tf.Tensor:
    return _f64(rows)[tf.newaxis, :, :, tf.newaxis]


def _as_filter(rows) -> tf.Tensor:
    return _f64(rows)[:, :, tf.newaxis, tf.newaxis]


# --- the article's worked examples ------------------------------------------------------


def test_vertical_sobel_on_the_article_image():
    image, kernel = _as_image(ARTICLE_IMAGE), _as_filter(VERTICAL_SOBEL)
    expected = [[29, -192], [-35, -22]]
    ours = bp.conv2d_forward(image, kernel)[0, :, :, 0].numpy()
    tf_conv = tf.nn.conv2d(image, kernel, strides=1, padding="VALID")[0, :, :, 0].numpy()
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(tf_conv, expected)


def test_horizontal_sobel_on_the_article_image():
    # By hand, top-left window: −(0 + 2·50 + 0) + (33 + 2·90 + 0) = 113.
    image, kernel = _as_image(ARTICLE_IMAGE), _as_filter(HORIZONTAL_SOBEL)
    expected = [[113, 86], [-173, -40]]
    np.testing.assert_array_equal(bp.conv2d_forward(image, kernel)[0, :, :, 0], expected)
    np.testing.assert_array_equal(
        tf.nn.conv2d(image, kernel, strides=1, padding="VALID")[0, :, :, 0], expected
    )


def test_same_padding_keeps_4x4():
    image, kernel = _as_image(ARTICLE_IMAGE), _as_filter(VERTICAL_SOBEL)
    padded = bp.pad_forward(image, 1)
    assert padded.shape == (1, 6, 6, 1)
    out = bp.conv2d_forward(padded, kernel)[0, :, :, 0].numpy()
    assert out.shape == (4, 4)
    np.testing.assert_array_equal(out[1:3, 1:3], [[29, -192], [-35, -22]])  # the valid core
    np.testing.assert_array_equal(out[0, 0], 2 * 50 + 1 * 80)  # corner sees zeros on its left
    np.testing.assert_array_equal(
        out, tf.nn.conv2d(image, kernel, strides=1, padding="SAME")[0, :, :, 0]
    )


def test_max_pool_4x4_to_2x2_and_its_gradient_routing():
    image = _as_image(ARTICLE_IMAGE)
    np.testing.assert_array_equal(bp.max_pool_forward(image)[0, :, :, 0], [[80, 31], [90, 95]])
    dout = _as_image([[1, 2], [3, 4]])
    dx = bp.max_pool_backward(dout, image)[0, :, :, 0].numpy()
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 2], expected[2, 1], expected[3, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx, expected)


# --- every layer's backward against autodiff, float64 -----------------------------------


@pytest.mark.parametrize(
    "shape, kernel", [((3, 9, 8, 1), (3, 3, 1, 4)), ((2, 7, 10, 5), (5, 3, 5, 6))]
)
def test_conv2d_forward_and_all_gradients(shape, kernel):
    rng = _rng(1)
    x, w, b = (
        _f64(rng.normal(size=shape)),
        _f64(rng.normal(size=kernel)),
        _f64(rng.normal(size=kernel[-1])),
    )
    out = bp.conv2d_forward(x, w, b)
    reference_fn = lambda x, w, b: tf.nn.conv2d(x, w, strides=1, padding="VALID") + b
    dout = _f64(rng.normal(size=out.shape))
    reference, (dx, dw, db) = _vjp(reference_fn, x, w, b, dout=dout)
    assert _rel_err(out, reference) <= RTOL
    ours_dx, ours_dw, ours_db = bp.conv2d_backward(dout, x, w)
    assert _rel_err(ours_dx, dx) <= RTOL
    assert _rel_err(ours_dw, dw) <= RTOL
    assert _rel_err(ours_db, db) <= RTOL


def test_rescaling():
    rng = _rng(12)
    x, dout = _f64(rng.random((2, 6, 6, 1))), _f64(rng.normal(size=(2, 6, 6, 1)))
    reference, (dx,) = _vjp(lambda x: x * 1.275 - 0.1, x, dout=dout)
    assert _rel_err(bp.rescale_forward(x, 1.275, -0.1), reference) <= RTOL
    assert _rel_err(bp.rescale_backward(dout, 1.275), dx) <= RTOL


def test_padding_gradient():
    rng = _rng(2)
    x = _f64(rng.normal(size=(2, 5, 5, 3)))
    dout = _f64(rng.normal(size=(2, 9, 9, 3)))
    _, (dx,) = _vjp(lambda x: bp.pad_forward(x, 2), x, dout=dout)
    assert _rel_err(bp.pad_backward(dout, 2), dx) <= RTOL


@pytest.mark.parametrize(
    "ours_forward, ours_backward, reference",
    [(bp.relu_forward, bp.relu_backward, tf.nn.relu), (bp.tanh_forward, bp.tanh_backward, tf.tanh)],
    ids=["relu", "tanh"],
)
def test_activations(ours_forward, ours_backward, reference):
    rng = _rng(3)
    x = _f64(rng.normal(size=(4, 6, 6, 3)) * 2)
    dout = _f64(rng.normal(size=x.shape))
    ref_out, (dx,) = _vjp(reference, x, dout=dout)
    out = ours_forward(x)
    assert _rel_err(out, ref_out) <= RTOL
    assert _rel_err(ours_backward(dout, out), dx) <= RTOL


@pytest.mark.parametrize("size", [(8, 8), (11, 11), (6, 9)], ids=str)
@pytest.mark.parametrize(
    "ours_forward, ours_backward, reference",
    [
        (bp.max_pool_forward, bp.max_pool_backward, tf.nn.max_pool2d),
        (bp.avg_pool_forward, bp.avg_pool_backward, tf.nn.avg_pool2d),
    ],
    ids=["max", "avg"],
)
def test_pooling(size, ours_forward, ours_backward, reference):
    rng = _rng(4)
    x = _f64(rng.normal(size=(3, *size, 4)))
    dout = _f64(rng.normal(size=(3, size[0] // 2, size[1] // 2, 4)))
    ref_out, (dx,) = _vjp(lambda x: reference(x, 2, 2, "VALID"), x, dout=dout)
    assert _rel_err(ours_forward(x), ref_out) <= RTOL
    assert _rel_err(ours_backward(dout, x), dx) <= RTOL


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    # Windows: all four equal; top row tied; left column tied; diagonal tied.
    image = _as_image([[7, 7, 5, 5], [7, 7, 1, 1], [3, 0, 0, 9], [3, 1, 9, 0]])
    dout = _as_image([[10, 20], [30, 40]])
    ours = bp.max_pool_backward(dout, image)[0, :, :, 0].numpy()
    np.testing.assert_array_equal(
        ours, [[10, 0, 20, 0], [0, 0, 0, 0], [30, 0, 0, 40], [0, 0, 0, 0]]
    )
    _, (reference,) = _vjp(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), image, dout=dout)
    np.testing.assert_array_equal(ours, reference[0, :, :, 0])
    # Ties everywhere, many channels: still exactly TensorFlow's routing.
    tied = _f64(_rng(5).integers(0, 3, size=(2, 6, 6, 8)))
    dout = _f64(_rng(6).normal(size=(2, 3, 3, 8)))
    _, (reference,) = _vjp(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), tied, dout=dout)
    np.testing.assert_array_equal(bp.max_pool_backward(dout, tied), reference)


def test_flatten():
    rng = _rng(7)
    x = _f64(rng.normal(size=(3, 5, 5, 4)))
    out = bp.flatten_forward(x)
    np.testing.assert_array_equal(out, keras.layers.Flatten(dtype="float64")(x))
    dout = _f64(rng.normal(size=out.shape))
    _, (dx,) = _vjp(lambda x: tf.reshape(x, [3, -1]), x, dout=dout)
    assert _rel_err(bp.flatten_backward(dout, x), dx) <= RTOL


def test_dropout_with_its_mask():
    rng = _rng(8)
    x = _f64(rng.normal(size=(16, 100)))
    scaled_mask = _f64((rng.random(size=(16, 100)) > 0.5) / 0.5)
    dout = _f64(rng.normal(size=x.shape))
    ref_out, (dx,) = _vjp(lambda x: x * scaled_mask, x, dout=dout)
    assert _rel_err(bp.dropout_forward(x, scaled_mask), ref_out) <= RTOL
    assert _rel_err(bp.dropout_backward(dout, scaled_mask), dx) <= RTOL
    # A mask from the Keras layer drops about half and scales the rest by 2.
    mask = keras.layers.Dropout(0.5, seed=1)(tf.ones((64, 100)), training=True).numpy()
    assert set(np.unique(mask)) == {0.0, 2.0} and 0.4 < (mask == 0).mean() < 0.6


def test_dense():
    rng = _rng(9)
    h, w, b = (_f64(rng.normal(size=s)) for s in [(5, 7), (7, 3), (3,)])
    dout = _f64(rng.normal(size=(5, 3)))
    ref_out, (dh, dw, db) = _vjp(lambda h, w, b: tf.matmul(h, w) + b, h, w, b, dout=dout)
    assert _rel_err(bp.dense_forward(h, w, b), ref_out) <= RTOL
    ours = bp.dense_backward(dout, h, w)
    for mine, reference in zip(ours, (dh, dw, db)):
        assert _rel_err(mine, reference) <= RTOL


def test_softmax_cross_entropy_against_autodiff_float64():
    rng = _rng(10)
    z = _f64(rng.normal(size=(32, 10)) * 5)
    labels = tf.constant(rng.integers(0, 10, size=32))
    loss, dz = bp.softmax_cross_entropy(z, labels)
    with tf.GradientTape() as tape:
        tape.watch(z)
        reference = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=z)
        )
    assert _rel_err(loss, reference) <= RTOL
    assert _rel_err(dz, tape.gradient(reference, z)) <= RTOL


# --- whole models ------------------------------------------------------------------------


def _batch(n: int = 16, seed: int = 0):
    rng = _rng(seed)
    return tf.constant(rng.random((n, 28, 28, 1)), tf.float32), tf.constant(rng.integers(0, 10, n))


@pytest.mark.parametrize("name", list(model_lib.MODELS))
def test_model_gradients_equal_the_tape(name):
    keras.utils.set_random_seed(11)
    model = model_lib.build(name)
    images, labels = _batch()
    z_tape, loss_tape, _, tape_grads = step.tape_gradients(model, images, labels, False)
    z, loss, _, grads = bp.loss_gradients(model, images, labels, False)
    np.testing.assert_allclose(z, z_tape, atol=1e-5)
    np.testing.assert_allclose(loss, loss_tape, rtol=1e-6)
    for ours, reference, var in zip(grads, tape_grads, model.trainable_variables):
        assert ours.shape == var.shape
        np.testing.assert_allclose(ours, reference, atol=1e-6, err_msg=var.path)


@pytest.mark.parametrize("name", list(model_lib.MODELS))
def test_model_gradients_equal_autodiff_in_float64(name):
    """In float64 the two paths must agree to rounding: a constant taken in another
    precision on one path (LeNet-5's 1.275 input scale once was) shows up as ~1e-8."""
    keras.utils.set_random_seed(11)
    model = model_lib.build(name, "float64")
    rng = _rng(3)
    images, labels = _f64(rng.random((16, 28, 28, 1))), tf.constant(rng.integers(0, 10, 16))
    z_tape, loss_tape, _, tape_grads = step.tape_gradients(model, images, labels, False)
    z, loss, _, grads = bp.loss_gradients(model, images, labels, False)
    assert z.dtype == tf.float64
    assert _rel_err(z, z_tape) <= 1e-12
    assert _rel_err(loss, loss_tape) <= 1e-12
    for ours, reference, var in zip(grads, tape_grads, model.trainable_variables):
        assert _rel_err(ours, reference) <= 1e-12, var.path


@pytest.mark.parametrize("name", list(model_lib.MODELS))
def test_one_manual_training_step_updates_weights_like_the_tape(name):
    """Dropout on: both modes must draw the same mask from the same seed state."""
    updated = {}
    for mode in ("tape", "manual"):
        keras.utils.set_random_seed(12)
        model = model_lib.build(name)
        optimizer = keras.optimizers.Adam(1e-3)
        images, labels = _batch(32, seed=1)
        step.train_step(model, optimizer, images, labels, gradients=step.GRADIENTS[mode])
        updated[mode] = [v.numpy() for v in model.trainable_variables]
    for manual, tape in zip(updated["manual"], updated["tape"]):
        np.testing.assert_allclose(manual, tape, atol=1e-5, rtol=0)


def test_unsupported_layer_is_named():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    with pytest.raises(ValueError, match="BatchNormalization"):
        bp.loss_gradients(model, *_batch(4))
