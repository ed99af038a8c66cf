"""serving/inputs.py: what each signature takes, checked once per request by any door."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2

from mnist_convnet import contract
from mnist_convnet.serving import api, inputs, rest, tensors
from mnist_convnet.serving.status import ServingError


def test_pixel_values_are_checked_for_their_type():
    """uint8 needs no check and is not copied; whole numbers of other types are checked
    for their range, floats for being whole and finite too."""
    digit = np.arange(784, dtype=np.uint8).reshape(28, 28, 1)
    assert inputs.pixel_values(digit, floats=False) is digit
    as_int = inputs.pixel_values(digit.astype(np.int64), floats=False)
    assert as_int.dtype == np.uint8 and np.array_equal(as_int, digit)
    wide = digit.astype(np.int64)
    for bad, message in ((wide + 1000, "0 to 255"), (wide - 300.0, "0 to 255")):
        with pytest.raises(ServingError, match=message):
            inputs.pixel_values(bad, floats=False)
    for bad, message in ((digit + 0.5, "integers"), (digit + np.inf, "finite")):
        with pytest.raises(ServingError, match=message):
            inputs.pixel_values(bad, floats=False)
    with pytest.raises(ServingError, match="from 0 to 1"):
        inputs.pixel_values(np.full((1, 28, 28, 1), 2.0), floats=True)


@pytest.mark.parametrize(
    "signature, value, message",
    [
        (contract.SERVING_DEFAULT, np.zeros((1, 28, 27)), "must have shape"),
        (contract.SERVING_FLOAT, np.zeros((1, 28, 28)), r"\[batch, 28, 28, 1\]"),
        (contract.SERVING_DEFAULT, np.zeros((0, 28, 28)), "1 to 1024 rows"),
        (contract.SERVING_DEFAULT, np.array([["a"] * 28] * 28, object)[None], "numbers"),
        (contract.SERVING_IMAGES, np.array([b"png"] * 3, object), "at most 2 images"),
        (contract.SERVING_IMAGES, np.zeros(2), "vector of encoded images"),
    ],
)
def test_inputs_a_signature_cannot_take_are_refused(signature, value, message):
    name = contract.INPUTS[signature]
    with pytest.raises(ServingError, match=message) as refused:
        inputs.check(signature, {name: value}, [name], max_images=2)
    assert refused.value.status == 400


def test_explain_inputs_for_pixels_share_one_label_and_step():
    checked = inputs.explain_pixels(np.full((2, 28, 28, 1), 255, np.uint8), 3, 0.5)
    images, label, rate = (checked[k] for k in contract.EXPLAIN_INPUTS)
    assert images.dtype == np.float32 and images.shape == (2, 28, 28, 1) and images.max() == 1
    assert label.tolist() == [3, 3] and rate.tolist() == [0.5, 0.5]
    for label, rate, message in ((10, 0.1, "label"), (3, 1e300, "learning_rate")):
        with pytest.raises(ServingError, match=message):
            inputs.explain_pixels(np.zeros((1, 28, 28), np.uint8), label, rate)
    with pytest.raises(ServingError, match="at most 8"):
        inputs.explain_pixels(np.zeros((9, 28, 28), np.uint8), 3, 0.1)


def test_checked_inputs_pass_through_check_for_their_own_signature_only():
    checked = inputs.check("serving_default", {"pixels": np.zeros((1, 28, 28))}, ["pixels"], 1)
    assert inputs.check("serving_default", checked, ["pixels"], 1) is checked
    float_name = contract.INPUTS[contract.SERVING_FLOAT]
    with pytest.raises(ServingError, match="takes the input"):
        inputs.check(contract.SERVING_FLOAT, checked, [float_name], 1)


@pytest.fixture(scope="module")
def app(exported):
    served = rest.for_folder(exported.parent, "mnist")
    yield served
    served.close()


@pytest.fixture
def checks(monkeypatch):
    """How many times pixel values were checked, and with which type."""
    seen: list[str] = []
    real = inputs.pixel_values

    def counted(array, floats):
        seen.append(str(array.dtype))
        return real(array, floats)

    monkeypatch.setattr(inputs, "pixel_values", counted)
    return seen


def _body(signature: str, instance, **more) -> bytes:
    return json.dumps({"signature_name": signature, "instances": [instance], **more}).encode()


def test_a_rest_request_has_its_pixels_checked_once(app, checks, test_digits):
    digit = test_digits[0][0].reshape(28, 28)
    path = "/v1/models/mnist:predict"
    for signature, instance in (
        (contract.SERVING_DEFAULT, digit.tolist()),
        (contract.SERVING_FLOAT, (digit[..., None] / 255).tolist()),
    ):
        checks.clear()
        reply = app.respond("POST", path, {}, _body(signature, instance))
        assert reply.status == 200 and len(checks) == 1, (signature, checks)
    checks.clear()
    body = json.dumps({"instances": [digit.tolist()]}).encode()
    reply = app.respond("POST", "/v1/models/mnist:explain", {}, body)
    assert reply.status == 200 and checks == ["int64"]
    checks.clear()
    reply = app.respond("POST", path, {}, _body(contract.SERVING_DEFAULT, [[300] * 28] * 28))
    assert reply.status == 400 and len(checks) == 1


def test_a_grpc_request_has_its_pixels_checked_once(app, checks, test_digits):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist"
    request.inputs["pixels"].CopyFrom(tensors.to_proto(test_digits[0][:2].astype(np.int32)))
    response = api.predict(app.manager, request)
    assert len(response.outputs["classes"].int64_val) == 2 and checks == ["int32"]
