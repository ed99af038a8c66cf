"""rest.py: the TF Serving-shaped REST API over real HTTP on loopback."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import requests
from PIL import Image

from mnist_convnet import rest
from tests.helpers import serve_in_thread


@pytest.fixture(scope="module")
def server(exported):
    with serve_in_thread(rest.ModelServer(exported.parent, "mnist", max_body_bytes=1_000_000)) as url:
        yield url + "/v1/models/mnist"


def _png_b64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _instances(*instances) -> bytes:
    return json.dumps({"instances": list(instances)}).encode()


def test_status_and_metadata(server):
    status = requests.get(server, timeout=30).json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    assert status["model_version_status"][0]["version"] == "1"
    meta = requests.get(server + "/metadata", timeout=30).json()
    signatures = meta["metadata"]["signature_def"]["signature_def"]
    assert signatures["serving_default"]["inputs"]["pixels"]["dtype"] == "uint8"
    assert signatures["serving_images"]["inputs"]["images"]["dtype"] == "string"


def test_predict_instances_pixels_and_b64_agree(server, test_digits):
    pixels, labels = test_digits
    by_pixels = requests.post(
        server + ":predict", json={"instances": pixels[:5].tolist()}, timeout=30
    ).json()["predictions"]
    by_png = requests.post(
        server + "/versions/1:predict",
        json={"instances": [{"b64": _png_b64(p)} for p in pixels[:5]]},
        timeout=30,
    ).json()["predictions"]
    assert [p["classes"] for p in by_pixels] == labels[:5].tolist()
    np.testing.assert_allclose(
        [p["probabilities"] for p in by_pixels], [p["probabilities"] for p in by_png], atol=1e-6
    )


def test_predict_columnar_inputs(server, test_digits):
    pixels, labels = test_digits
    answer = requests.post(server + ":predict", json={"inputs": pixels[:3].tolist()}, timeout=30)
    assert answer.status_code == 200
    assert answer.json()["outputs"]["classes"] == labels[:3].tolist()


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"instances": [[1, 2, 3]]}', 400, "28x28"),
        (b'{"instances": "seven"}', 400, "non-empty list"),
        (_instances([["a"] * 28] * 28), 400, "pixels must be numbers"),
        (_instances([[0.5] * 28] * 28), 400, "integers from 0 to 255"),
        (_instances([[300] * 28] * 28), 400, "integers from 0 to 255"),
        (b'{"instances": [[[NaN]]]}', 400, "NaN"),
        (_instances([[0] * 28] * 27 + [[0] * 5]), 400, "ragged"),
        (b'{"instances": [{"b64": "!!!"}]}', 400, "base64"),
        (b'{"instances": [{"b64": "aGVsbG8="}]}', 400, "rejected the input"),
        (b'{"foo": 1}', 400, '"instances" or "inputs"'),
        (b'{"instances": [], "inputs": []}', 400, "exactly one"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        (b'{"instances": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}", 400, "nested too deeply"),
    ],
    ids=["bad-json", "wrong-shape", "not-a-list", "strings", "floats", "out-of-range", "nan",
         "ragged", "bad-b64", "not-an-image", "no-key", "both-keys", "deep-json",
         "deep-instance"],  # fmt: skip
)
def test_bad_requests_get_400_and_a_json_error(server, body, status, message):
    answer = requests.post(server + ":predict", data=body, timeout=30)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert requests.get(server, timeout=30).status_code == 200  # and the server keeps serving


def test_oversize_body_unknown_model_version_and_method(server):
    big = requests.post(server + ":predict", data=b" " * 10_000_000, timeout=30)
    assert big.status_code == 413 and "larger than" in big.json()["error"]
    other = server.replace("/mnist", "/other")
    assert requests.get(other, timeout=30).status_code == 404
    assert requests.get(server + "/versions/9", timeout=30).status_code == 404
    wrong = requests.get(server + ":predict", timeout=30)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert requests.post(server, timeout=30).status_code == 405
