"""tflite.py: the three TF Lite files exist, run in LiteRT, and agree with the SavedModel."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet import data, tflite


@pytest.fixture(scope="module")
def lite_files(exported, mnist):
    representative, _ = data.as_numpy(mnist.train, 200)
    return tflite.write_all(exported, representative, tflite.output_dir(exported))


@pytest.fixture(scope="module")
def sample(mnist):
    return data.as_numpy(mnist.test, 500)


def test_files_are_written_beside_the_base_folder(exported, lite_files):
    assert set(lite_files) == {"float32", "dynamic_range", "int8"}
    for path in lite_files.values():
        assert path.parent == exported.parent.parent / "mnist_convnet_tflite" / "1"
        assert path.stat().st_size > 10_000
    assert not list(lite_files["float32"].parent.glob("*.partial"))
    # Quantised weights are int8: about a quarter of the float model.
    assert lite_files["int8"].stat().st_size < 0.5 * lite_files["float32"].stat().st_size


def test_float32_agrees_with_the_saved_model(exported, lite_files, sample):
    images, _ = sample
    loaded = tf.saved_model.load(str(exported))
    expected = loaded.signatures["serving_float"](images=tf.constant(images))["probabilities"]
    got = tflite.LiteModel(lite_files["float32"]).predict(images)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_int8_takes_raw_uint8_pixels_and_keeps_accuracy(lite_files, sample, exported):
    images, labels = sample
    model = tflite.LiteModel(lite_files["int8"])
    assert model.input["dtype"] == np.uint8 and model.output["dtype"] == np.uint8
    scale, zero_point = model.input["quantization"]
    assert zero_point == 0 and abs(scale - 1 / 255) < 1e-6
    loaded = tf.saved_model.load(str(exported))
    reference = loaded.signatures["serving_float"](images=tf.constant(images))["classes"].numpy()
    for kind in ("dynamic_range", "int8"):
        predicted = np.argmax(tflite.LiteModel(lite_files[kind]).predict(images), -1)
        assert (predicted == labels).mean() >= (reference == labels).mean() - 0.01, kind
        assert (predicted == reference).mean() >= 0.98, kind


def test_latency_is_measured(lite_files, sample):
    latency = tflite.LiteModel(lite_files["float32"]).latency_ms(sample[0][0], runs=20)
    assert 0 < latency["p50_ms"] <= latency["p99_ms"]


def test_probabilities_are_read_by_name_whatever_the_batch(exported, lite_files, sample):
    """After a batch of exactly 10, `classes` is [10] and looks like [.., 10] too: the
    probabilities must still be found when the next batch resizes the input."""
    images, _ = sample
    loaded = tf.saved_model.load(str(exported))
    lite = tflite.LiteModel(lite_files["float32"])
    for batch in (10, 37, 10, 1):
        expected = loaded.signatures["serving_float"](images=tf.constant(images[:batch]))
        got = lite.predict(images[:batch])
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, expected["probabilities"].numpy(), atol=1e-5)
