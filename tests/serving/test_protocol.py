"""serving/protocol.py: TF Serving's REST JSON to arrays and back, without TensorFlow."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_convnet.serving import inputs, protocol
from mnist_convnet.serving.status import ServingError


def test_row_and_columnar_forms_and_named_inputs():
    digit = np.arange(784).reshape(28, 28) % 256
    body = json.dumps({"instances": [{"pixels": digit.tolist()}]}).encode()
    columnar, instances, signature = protocol.parse_predict(body)
    assert (columnar, signature) == (False, None)
    name, inputs = protocol.request_inputs(instances, None)
    assert name == "serving_default" and inputs["pixels"].shape == (1, 28, 28, 1)
    np.testing.assert_array_equal(inputs["pixels"][0, ..., 0], digit)
    body = json.dumps({"inputs": {"images": {"b64": base64.b64encode(b"png").decode()}}})
    columnar, instances, _ = protocol.parse_predict(body.encode())
    name, inputs = protocol.request_inputs(instances, None)
    assert columnar and name == "serving_images" and inputs["images"].tolist() == [b"png"]


@pytest.mark.parametrize(
    "instances, signature, message",
    [
        ([{"b64": "aGk="}, [[0] * 28] * 28], None, "mix of b64"),
        ([[[0] * 28] * 28], "serving_images", "serving_images takes"),
        ([[[0] * 5]], None, "28x28"),
    ],
)
def test_instances_the_signature_cannot_take_are_refused(instances, signature, message):
    with pytest.raises(ServingError, match=message) as refused:
        protocol.request_inputs(instances, signature)
    assert refused.value.code == "INVALID_ARGUMENT" and refused.value.status == 400


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"instances": [[[NaN]]]}', "may not contain NaN"),
        (json.dumps({"instances": [[[2**70] * 28] * 28]}).encode(), "integers from 0 to 255"),
        ("\ufeff{}".encode(), "exactly one"),
        ('{"instances": [[[0]]]}'.encode("utf-16"), "28x28"),
    ],
    ids=["nan", "past-64-bits", "utf-8-bom", "utf-16"],
)
def test_bodies_the_fast_reader_refuses_are_read_as_json_reads_them(body, message):
    """orjson reads bodies first; what it refuses gets ``json``'s reading and sentence (the
    values checked as a server checks them after reading, by ``inputs.check``)."""
    with pytest.raises(ServingError, match=message):
        name, arrays = protocol.request_inputs(*protocol.parse_predict(body)[1:])
        inputs.check(name, arrays, list(arrays), max_images=1)


def test_answers_in_both_forms_with_text_for_byte_strings():
    outputs = {"classes": np.array([3, 4]), "number": np.array([b"34", b"5"], dtype=object)}
    rows = json.loads(protocol.answer(False, outputs, 2))
    assert rows == {"predictions": [{"classes": 3, "number": "34"}, {"classes": 4, "number": "5"}]}
    assert json.loads(protocol.answer(True, outputs, 2)) == {
        "outputs": {"classes": [3, 4], "number": ["34", "5"]}
    }


def test_an_explain_body_and_its_defaults():
    digit = (np.arange(784).reshape(28, 28) % 256).tolist()
    body = json.dumps({"instances": [{"pixels": digit}], "label": 7}).encode()
    assert protocol.parse_explain(body) == ([digit], 7, 0.01)
    body = json.dumps({"instances": [digit], "learning_rate": 1}).encode()
    instances, label, rate = protocol.parse_explain(body)
    assert (label, rate) == (-1, 1.0) and type(rate) is float


def test_explanations_put_each_images_layers_in_order():
    """Two images, two layers (one with weights): one object each, arrays by position."""
    outputs = {
        "label": np.array([1, 2]),
        "loss": np.array([0.5, 1.5], np.float32),
        "loss_after_step": np.array([0.25, 1.0], np.float32),
        "probabilities": np.eye(10, dtype=np.float32)[[1, 2]],
        "dL_dz": np.zeros((2, 10), np.float32),
        "dL_dx": np.ones((2, 28, 28), np.float32),
        "layer_names": np.array([[b"conv2d", b"dense"]] * 2, dtype=object),
        "layer_kinds": np.array([[b"Conv2D", b"Dense"]] * 2, dtype=object),
        "layer0/output": np.arange(2 * 3, dtype=np.float32).reshape(2, 3),
        "layer0/dL_doutput": np.zeros((2, 3), np.float32),
        "layer0/dL_dkernel": np.full((2, 2, 2), 0.125, np.float32),
        "layer0/dL_dbias": np.zeros((2, 2), np.float32),
        "layer1/output": np.zeros((2, 10), np.float32),
        "layer1/dL_doutput": np.zeros((2, 10), np.float32),
    }
    images = np.zeros((2, 28, 28), np.uint8)
    first, second = json.loads(protocol.explanations(outputs, images, 0.01))["explanations"]
    assert [first["label"], second["label"]] == [1, 2]
    assert second["loss"] == 1.5 and second["loss_after_step"] == 1.0
    assert [layer["name"] for layer in first["layers"]] == ["conv2d", "dense"]
    assert second["layers"][0]["output"] == [3.0, 4.0, 5.0]
    assert first["layers"][0]["dL_dkernel"] == [[0.125, 0.125], [0.125, 0.125]]
    assert "dL_dkernel" not in first["layers"][1]
    assert np.asarray(first["image"]).shape == (28, 28) and first["learning_rate"] == 0.01


def test_the_protocol_needs_no_tensorflow():
    code = "import sys, mnist_convnet.serving.protocol; print('tensorflow' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        == "False\n"
    )
