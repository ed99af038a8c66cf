"""deslant.py: a slanted digit stands upright, in every place the network runs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.errors import UserError
from mnist_convnet.network import backprop, deslant
from mnist_convnet.network import model as model_lib
from mnist_convnet.training import step
from mnist_convnet.training.config import Config


def _bar(lean: float) -> np.ndarray:
    """A 2-px bar from row 4 to row 23 whose column moves ``lean`` px per row down."""
    image = np.zeros((28, 28, 1), np.float32)
    for row in range(4, 24):
        column = int(round(13 + lean * (row - 13.5)))
        image[row, column : column + 2] = 1.0
    return image


def _slant(image: np.ndarray) -> float:
    """The second-moment slant: columns per row down."""
    ink = image[..., 0]
    rows, cols = np.mgrid[0:28, 0:28]
    mass = ink.sum()
    cy, cx = (ink * rows).sum() / mass, (ink * cols).sum() / mass
    return ((cols - cx) * (rows - cy) * ink).sum() / ((rows - cy) ** 2 * ink).sum()


@pytest.mark.parametrize("lean", [-0.4, 0.25, 0.5])
def test_a_slanted_bar_stands_upright_and_keeps_its_ink(lean):
    image = _bar(lean)
    assert abs(_slant(image)) > 0.2
    upright = deslant.deslant(tf.constant(image[None]))[0].numpy()
    assert abs(_slant(upright)) < 0.03
    assert upright.sum() == pytest.approx(image.sum(), rel=0.02)  # interpolated, not lost
    columns = np.flatnonzero(upright[..., 0].max(0) > 0.5)
    assert columns.max() - columns.min() <= 3  # one column of ink, not a diagonal


def test_an_upright_digit_is_left_as_it_is(mnist):
    """MNIST's 1s slant little: an exactly upright bar is unchanged, and the centre of a
    real digit's ink does not move."""
    bar = _bar(0.0)
    np.testing.assert_allclose(deslant.deslant(tf.constant(bar[None]))[0], bar, atol=1e-5)
    images = next(iter(mnist.test.batch(64)))[0]
    out = deslant.deslant(images).numpy()
    for before, after in zip(images.numpy(), out):
        rows = np.arange(28)
        centre = (before[..., 0].sum(1) * rows).sum() / before.sum()
        assert (after[..., 0].sum(1) * rows).sum() / after.sum() == pytest.approx(centre, abs=0.05)


@pytest.mark.parametrize("lean", [-0.9, -0.4, 0.0, 0.5, 1.2])
def test_training_reads_the_same_shear_with_the_image_transform_kernel(lean, mnist):
    """``resampled`` (what training runs) gives the builtins' matrices' numbers: steep
    bars whose rows move past the border, and real digits; the layer picks it in training."""
    images = tf.concat([tf.constant(_bar(lean)[None]), next(iter(mnist.train.batch(32)))[0]], 0)
    expected = deslant.deslant(images).numpy()
    np.testing.assert_allclose(deslant.resampled(images), expected, atol=1e-5)
    layer = deslant.Deslant()
    np.testing.assert_allclose(layer(images, training=True), expected, atol=1e-5)
    np.testing.assert_array_equal(layer(images, training=False), expected)


def test_the_keras_convnet_takes_it_as_a_first_layer_without_weights():
    model = model_lib.build("keras_convnet", deslant=True)
    assert isinstance(model.layers[0], deslant.Deslant)
    assert model.count_params() == 34_826
    with pytest.raises(ValueError, match="takes no Deslant"):
        model_lib.build("lenet5", deslant=True)


def test_the_augmented_recipe_deslants_and_the_others_do_not():
    assert Config(recipe="augmented").deslant is True
    assert Config().deslant is False and Config(recipe="fast").deslant is False
    assert Config(model="lenet5").deslant is None
    assert '"deslant"' not in Config().fingerprint()  # keras.io's runs resume as before
    assert '"deslant": true' in Config(recipe="augmented").fingerprint()
    with pytest.raises(UserError, match="takes no Deslant"):
        Config(model="lenet5", deslant=True)


def test_the_articles_backprop_goes_through_it_as_the_tape_does():
    """``--gradients=manual`` on a deslanting model: the same weight gradients as the tape;
    ∂L/∂x through the layer is its shear transposed (the image's own shear undone)."""
    tf.keras.utils.set_random_seed(0)
    model = model_lib.build("keras_convnet", deslant=True)
    images = tf.constant(np.stack([_bar(0.4), _bar(-0.3)]))
    labels = tf.constant([1, 7])
    _, _, _, tape = step.tape_gradients(model, images, labels, training=False)
    _, _, _, manual = backprop.loss_gradients(model, images, labels, False)
    for a, b in zip(tape, manual):
        np.testing.assert_allclose(a, b, atol=1e-6)
    shear = deslant.shear_matrices(images)
    dout = tf.random.stateless_normal([2, 28, 28, 1], [1, 2])
    dx = backprop.deslant_backward(dout, shear)
    # <dout, W x> = <Wᵀ dout, x>: the backward is the forward's transpose
    assert float(tf.reduce_sum(dout * tf.matmul(shear, images))) == pytest.approx(
        float(tf.reduce_sum(dx * images)), rel=1e-5
    )


def test_it_converts_to_tf_lite_builtins_and_reads_the_same(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    function = tf.function(deslant.deslant, input_signature=[tf.TensorSpec([1, 28, 28, 1])])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    image = _bar(0.35)[None]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, deslant.deslant(tf.constant(image)).numpy(), atol=1e-5)


@pytest.mark.slow  # an export: its signatures traced (~20 s)
def test_an_export_deslants_pixels_and_is_rebuilt_with_its_layer(tmp_path):
    """serving_default answers as the Keras model (Deslant included) does, and the Keras
    model rebuilt from the SavedModel (plots, visualize) has the layer back."""
    from mnist_convnet.export import saved_model
    from mnist_convnet.reading import inference

    tf.keras.utils.set_random_seed(1)
    model = model_lib.build("keras_convnet", deslant=True)
    version = saved_model.export_saved_model(model, tmp_path / "mnist")
    pixels = np.round(np.stack([_bar(0.4), _bar(-0.2)])[..., 0] * 255).astype(np.uint8)
    loaded = tf.saved_model.load(str(version))
    served = loaded.signatures["serving_default"](pixels=tf.constant(pixels))["probabilities"]
    expected = model(tf.constant(pixels[..., None] / 255.0, tf.float32))
    np.testing.assert_allclose(served, expected, atol=1e-6)
    rebuilt = inference.load_keras_model(version)
    assert isinstance(rebuilt.layers[0], deslant.Deslant)
    again = rebuilt(tf.constant(pixels[..., None] / 255.0, tf.float32))
    np.testing.assert_allclose(again, expected, atol=1e-6)
