"""signatures.py: the exported SavedModel's three signatures and what they accept."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import run_python


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported))


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_signature_names_inputs_and_outputs(loaded):
    assert set(loaded.signatures) == {"serving_default", "serving_images", "serving_float"}
    for name, (input_name, dtype) in {
        "serving_default": ("pixels", tf.uint8),
        "serving_images": ("images", tf.string),
        "serving_float": ("images", tf.float32),
    }.items():
        _, inputs = loaded.signatures[name].structured_input_signature
        assert list(inputs) == [input_name] and inputs[input_name].dtype == dtype
        outputs = loaded.signatures[name].structured_outputs
        assert set(outputs) == {"probabilities", "classes"}


def test_uint8_pixels_match_the_keras_model(loaded, short_run, test_digits):
    pixels, _ = test_digits
    expected = short_run[0].model(pixels[..., None].astype(np.float32) / 255, training=False)
    for shaped in (pixels, pixels[..., None]):  # [B, 28, 28] and [B, 28, 28, 1]
        out = loaded.signatures["serving_default"](pixels=tf.constant(shaped))
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
        np.testing.assert_array_equal(out["classes"], np.argmax(expected, -1))


def test_image_bytes_agree_with_uint8_pixels(loaded, test_digits):
    pixels, labels = test_digits
    direct = loaded.signatures["serving_default"](pixels=tf.constant(pixels))
    pngs = tf.constant([_png(p) for p in pixels])
    decoded = loaded.signatures["serving_images"](images=pngs)
    np.testing.assert_allclose(decoded["probabilities"], direct["probabilities"], atol=1e-6)
    # Colour and a larger size go through decode -> grey -> resize inside the graph.
    big_rgb = [_png(np.asarray(Image.fromarray(p).resize((56, 56)).convert("RGB"))) for p in pixels]
    classes = loaded.signatures["serving_images"](images=tf.constant(big_rgb))["classes"].numpy()
    assert (classes == direct["classes"].numpy()).mean() >= 0.95


def test_wrong_pixel_shape_is_refused(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[batch, 28, 28\]"):
        loaded.signatures["serving_default"](pixels=tf.zeros([2, 28, 28, 3], tf.uint8))


def test_saved_model_cli_shows_both_serving_signatures(exported):
    cli = "from tensorflow.python.tools import saved_model_cli; saved_model_cli.main()"
    result = run_python("-c", cli, "show", "--dir", str(exported), "--all")
    assert result.returncode == 0, result.stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['serving_images']",
                 "DT_UINT8", "DT_STRING", "outputs['probabilities']", "outputs['classes']"):  # fmt: skip
        assert text in result.stdout
