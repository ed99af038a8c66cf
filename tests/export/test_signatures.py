"""signatures.py: the exported SavedModel's three signatures and what they accept."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2, saved_model_pb2
from tensorflow.python.eager import context

from mnist_convnet.export import signatures
from tests.helpers import run_python


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_signature_names_inputs_and_outputs(saved_model):
    names = {"serving_default", "serving_images", "serving_number", "serving_float"}
    assert set(saved_model.signatures) == names | {"serving_explain"}
    for name, (input_name, dtype, outputs) in {
        "serving_default": ("pixels", tf.uint8, {"probabilities", "classes"}),
        "serving_images": ("images", tf.string, {"probabilities", "classes", "image"}),
        "serving_number": (
            "images",
            tf.string,
            {"number", "count", "digits", "probabilities", "boxes", "images"},
        ),
        "serving_float": ("images", tf.float32, {"probabilities", "classes"}),
    }.items():
        _, inputs = saved_model.signatures[name].structured_input_signature
        assert list(inputs) == [input_name] and inputs[input_name].dtype == dtype
        assert set(saved_model.signatures[name].structured_outputs) == outputs
    _, inputs = saved_model.signatures["serving_explain"].structured_input_signature
    assert {k: v.dtype for k, v in inputs.items()} == {
        "images": tf.float32,
        "label": tf.int64,
        "learning_rate": tf.float32,
    }


def test_uint8_pixels_match_the_keras_model(saved_model, short_run, test_digits):
    pixels, _ = test_digits
    expected = short_run[0].model(pixels[..., None].astype(np.float32) / 255, training=False)
    for shaped in (pixels, pixels[..., None]):  # [B, 28, 28] and [B, 28, 28, 1]
        out = saved_model.signatures["serving_default"](pixels=tf.constant(shaped))
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
        np.testing.assert_array_equal(out["classes"], np.argmax(expected, -1))


def test_image_bytes_are_classified_as_the_28x28_they_return(saved_model, test_digits):
    """serving_images classifies exactly the image it returns: the same through pixels."""
    pixels, labels = test_digits
    big_rgb = [
        _png(np.asarray(Image.fromarray(255 - p).resize((90, 70)).convert("RGB"))) for p in pixels
    ]
    found = saved_model.signatures["serving_images"](images=tf.constant(big_rgb))
    assert found["image"].shape == (len(pixels), 28, 28) and found["image"].dtype == tf.uint8
    direct = saved_model.signatures["serving_default"](pixels=found["image"])
    np.testing.assert_allclose(found["probabilities"], direct["probabilities"], atol=1e-6)
    assert (found["classes"].numpy() == labels).mean() >= 0.9


def test_a_number_is_read_digit_by_digit(saved_model, test_digits):
    from testbed import sheet

    pixels, labels = test_digits
    row = sheet.on_paper(sheet.row(np.random.default_rng(0), list(pixels[:4]), 70))
    out = saved_model.signatures["serving_number"](images=tf.constant([sheet.encode(row)]))
    assert int(out["count"][0]) == 4
    alone = saved_model.signatures["serving_default"](pixels=out["images"][0, :4])
    np.testing.assert_allclose(out["probabilities"][0, :4], alone["probabilities"], atol=1e-6)
    digits = out["digits"][0].numpy()
    assert digits[4:].tolist() == [-1] * 12 and (out["probabilities"][0, 4:].numpy() == 0).all()
    assert out["number"][0].numpy().decode() == "".join(str(d) for d in digits[:4])
    assert (digits[:4] == labels[:4]).mean() >= 0.75


def test_no_digit_and_bombs_are_invalid_argument(saved_model):
    from tests.helpers import png_bomb

    for name in ("serving_images", "serving_number"):
        with pytest.raises(tf.errors.InvalidArgumentError, match="no digit found"):
            saved_model.signatures[name](
                images=tf.constant([_png(np.full((40, 40), 255, np.uint8))])
            )
        with pytest.raises(tf.errors.InvalidArgumentError, match="at most 25000000"):
            saved_model.signatures[name](images=tf.constant([png_bomb(8000, 8000)]))


def test_wrong_pixel_shape_is_refused(saved_model):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[batch, 28, 28\]"):
        saved_model.signatures["serving_default"](pixels=tf.zeros([2, 28, 28, 3], tf.uint8))


@pytest.mark.slow
def test_saved_model_cli_shows_both_serving_signatures(exported):
    cli = "from tensorflow.python.tools import saved_model_cli; saved_model_cli.main()"
    result = run_python("-c", cli, "show", "--dir", str(exported), "--all")
    assert result.returncode == 0, result.stderr[-2000:]
    for text in (
        "signature_def['serving_default']",
        "signature_def['serving_images']",
        "signature_def['serving_number']",
        "outputs['image']",
        "DT_UINT8",
        "DT_STRING",
        "outputs['probabilities']",
        "outputs['classes']",
    ):
        assert text in result.stdout


def _call_configs(saved_model_dir) -> list[config_pb2.ConfigProto]:
    """The ConfigProto of every function call op in a SavedModel, top graph and library."""
    proto = saved_model_pb2.SavedModel.FromString((saved_model_dir / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    return [
        config_pb2.ConfigProto.FromString(node.attr["config_proto"].s)
        for nodes in [graph.node, *(f.node_def for f in graph.library.function)]
        for node in nodes
        if node.op in ("PartitionedCall", "StatefulPartitionedCall")
    ]


def test_every_function_call_of_an_export_is_optimised_once_without_the_tfg_pass(exported):
    """The call ops carry their functions' Grappler options into TF Serving: one round of
    the optimisers that change graphs, the TFG pass (which changes nothing) off."""
    configs = _call_configs(exported)
    assert len(configs) >= 5  # a call for each signature at least
    for config in configs:
        rewrite = config.graph_options.rewrite_options
        assert rewrite.disable_tfg_optimizer and not rewrite.disable_meta_optimizer
        assert rewrite.meta_optimizer_iterations == rewriter_config_pb2.RewriterConfig.ONE


def test_the_call_options_end_with_the_export():
    before = context.context().function_call_options.config_proto_serialized
    with signatures.function_calls_optimised_once():
        inside = context.context().function_call_options.config_proto_serialized
    assert context.context().function_call_options.config_proto_serialized == before
    rewrite = config_pb2.ConfigProto.FromString(inside).graph_options.rewrite_options
    assert rewrite.disable_tfg_optimizer
    assert rewrite.meta_optimizer_iterations == rewriter_config_pb2.RewriterConfig.ONE
