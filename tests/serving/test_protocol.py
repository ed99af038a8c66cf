"""serving/protocol.py: TF Serving's REST JSON to arrays and back, without TensorFlow."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_convnet.serving import protocol
from mnist_convnet.serving.status import ServingError


def test_row_and_columnar_forms_and_named_inputs():
    digit = np.arange(784).reshape(28, 28) % 256
    body = json.dumps({"instances": [{"pixels": digit.tolist()}]}).encode()
    columnar, instances, signature = protocol.parse_predict(body)
    assert (columnar, signature) == (False, None)
    name, inputs = protocol.request_inputs(instances, None)
    assert name == "serving_default" and inputs["pixels"].dtype == np.uint8
    np.testing.assert_array_equal(inputs["pixels"][0, ..., 0], digit)
    body = json.dumps({"inputs": {"images": {"b64": base64.b64encode(b"png").decode()}}})
    columnar, instances, _ = protocol.parse_predict(body.encode())
    name, inputs = protocol.request_inputs(instances, None)
    assert columnar and name == "serving_images" and inputs["images"].tolist() == [b"png"]


@pytest.mark.parametrize(
    "instances, signature, message",
    [
        ([[[0.5] * 28] * 28], None, "integers from 0 to 255"),
        ([[[2.0] * 28] * 28], "serving_float", "from 0 to 1"),
        ([{"b64": "aGk="}, [[0] * 28] * 28], None, "mix of b64"),
        ([[[0] * 28] * 28], "serving_images", "serving_images takes"),
        ([[[0] * 5]], None, "28x28"),
    ],
)
def test_instances_the_signature_cannot_take_are_refused(instances, signature, message):
    with pytest.raises(ServingError, match=message) as refused:
        protocol.request_inputs(instances, signature)
    assert refused.value.code == "INVALID_ARGUMENT" and refused.value.status == 400


def test_answers_in_both_forms_with_text_for_byte_strings():
    outputs = {"classes": np.array([3, 4]), "number": np.array([b"34", b"5"], dtype=object)}
    rows = json.loads(protocol.answer(False, outputs, 2))
    assert rows == {"predictions": [{"classes": 3, "number": "34"}, {"classes": 4, "number": "5"}]}
    assert json.loads(protocol.answer(True, outputs, 2)) == {
        "outputs": {"classes": [3, 4], "number": ["34", "5"]}
    }


def test_the_protocol_needs_no_tensorflow():
    code = "import sys, mnist_convnet.serving.protocol; print('tensorflow' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        == "False\n"
    )
