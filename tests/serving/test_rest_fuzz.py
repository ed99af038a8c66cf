"""serving/rest.py under fuzzing: thousands of generated requests on loopback, never a 5xx.

Hypothesis builds requests from the shapes a broken client could send: arbitrary JSON,
arbitrary bytes, instances that are almost right (wrong sizes, NaN, huge numbers, ragged
rows, bad base64, random "images"), and odd paths and methods. Every answer must be a
200 or a 4xx carrying a JSON error, and the server must still answer afterwards.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_convnet.serving import rest
from testbed.servers import serve_in_thread
from tests.helpers import serve_process

# Hundreds of generated requests per test.
pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=40,
)
pixel = st.integers(-(2**70), 2**70) | st.floats() | st.integers(0, 255) | st.text(max_size=3)
row = st.lists(pixel, min_size=0, max_size=30)
near_instances = st.lists(row, min_size=0, max_size=30) | st.builds(
    lambda rows, width, fill: [[fill] * width for _ in range(rows)],
    st.integers(26, 30),
    st.integers(26, 30),
    pixel,
)
b64_instance = st.binary(max_size=300).map(
    lambda b: {"b64": base64.b64encode(b).decode()}
) | st.builds(lambda text: {"b64": text}, st.text(max_size=40))


@pytest.fixture(scope="module", params=["wsgi", "granian"])
def server(exported, request):
    """The WSGI app in a thread, and `mnist-convnet serve` on granian (the ASGI path)."""
    if request.param == "wsgi":
        app = rest.for_folder(exported.parent, "mnist", max_body_bytes=200_000)
        with serve_in_thread(app) as url:
            yield url
    else:
        flags = ("--enable_batching", "--max_body_bytes=200000", "--grpc_port=-1")
        with serve_process(exported.parent, *flags) as (_, url):
            yield url.split("/v1/")[0]


def _check(response: requests.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400 and response.request.method != "HEAD":  # HEAD: no body
        assert isinstance(response.json()["error"], str)


def _post(server: str, body: bytes) -> requests.Response:
    return requests.post(
        server + "/v1/models/mnist:predict",
        data=body,
        timeout=60,
        headers={"Content-Type": "application/json"},
    )


@FUZZ
@given(
    body=json_values,
    key=st.sampled_from(["instances", "inputs", None]),
    signature=st.sampled_from(
        [None, "serving_default", "serving_images", "serving_number", "serving_float", "nope"]
    ),
)
def test_arbitrary_json(server, body, key, signature):
    payload = body if key is None else {key: body}
    if signature is not None and isinstance(payload, dict):
        payload["signature_name"] = signature
    _check(_post(server, json.dumps(payload).encode()))


@FUZZ
@given(
    instances=st.lists(near_instances | b64_instance | json_values, min_size=0, max_size=3),
    columnar=st.booleans(),
)
def test_almost_right_instances(server, instances, columnar):
    payload = {"inputs": instances} if columnar else {"instances": instances}
    _check(_post(server, json.dumps(payload).encode()))


@FUZZ
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes(server, body):
    _check(_post(server, body))


@settings(FUZZ, max_examples=200)  # a valid one is answered with ~1 MB a digit
@given(
    instances=st.lists(near_instances | b64_instance | json_values, min_size=0, max_size=9),
    label=json_values | st.integers(-3, 12),
    learning_rate=json_values | st.floats(-1, 20),
    keys=st.sets(st.sampled_from(["label", "learning_rate", "signature_name"])),
)
def test_almost_right_explanations(server, instances, label, learning_rate, keys):
    """:explain (the page's panel) under the same fuzzing: never a 5xx, never NaN in JSON."""
    extra = {"label": label, "learning_rate": learning_rate, "signature_name": "x"}
    payload = {"instances": instances, **{k: extra[k] for k in keys}}
    response = requests.post(
        server + "/v1/models/mnist:explain",
        data=json.dumps(payload).encode(),
        timeout=60,
        headers={"Content-Type": "application/json"},
    )
    _check(response)
    if response.ok:
        assert len(response.json(parse_constant=_no_constants)["explanations"]) == len(instances)


def _no_constants(name: str):
    raise AssertionError(f"the answer holds {name}")


@FUZZ
@given(
    path=st.text(alphabet="/:abcdmnstv1029.%-_", max_size=40)
    | st.builds(  # model names outside Latin-1, as /v1/models/模:predict
        lambda text: "v1/models/" + text + ":predict",
        st.text(
            st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="?#/%"), max_size=8
        ),
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
)
def test_arbitrary_paths_and_methods(server, path, method):
    _check(requests.request(method, server + "/" + path.lstrip("/"), data=b"{}", timeout=60))


@FUZZ
@given(
    kind=st.sampled_from(["versions", "labels"]),
    text=st.integers(-(2**80), 2**80).map(str)  # past int64: once a 500
    | st.text(  # other scripts' digits ("²", "١") and anything else a path segment holds
        st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="?#/%:"),
        min_size=1,
        max_size=12,
    ),
    verb=st.sampled_from([":predict", "/metadata", ""]),
)
def test_arbitrary_versions_and_labels(server, kind, text, verb):
    path = f"/v1/models/mnist/{kind}/{text}{verb}"
    method = "POST" if verb == ":predict" else "GET"
    _check(requests.request(method, server + path, data=b'{"instances": [0]}', timeout=60))


def test_still_serving_after_the_fuzzing(server, test_digits):
    pixels, labels = test_digits
    answer = requests.post(
        server + "/v1/models/mnist:predict", json={"instances": pixels[:2].tolist()}, timeout=60
    )
    assert answer.status_code == 200
    assert [p["classes"] for p in answer.json()["predictions"]] == labels[:2].tolist()
