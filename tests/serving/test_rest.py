"""serving/rest.py: TF Serving's REST API over real HTTP on loopback."""

from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from mnist_convnet.serving import rest
from mnist_convnet.serving.batching import BatchingOptions
from mnist_convnet.serving.status import ServingError
from testbed.memory import tree_rss_kb
from testbed.servers import serve_in_thread
from tests.helpers import serve_process


@pytest.fixture(scope="module")
def server(exported):
    with serve_in_thread(
        rest.for_folder(exported.parent, "mnist", max_body_bytes=1_000_000)
    ) as url:
        yield url + "/v1/models/mnist"


def _png_b64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _instances(*instances) -> bytes:
    return json.dumps({"instances": list(instances)}).encode()


def test_status_and_metadata(server):
    status = requests.get(server, timeout=30).json()
    assert status == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    meta = requests.get(server + "/metadata", timeout=30).json()
    assert meta["model_spec"] == {"name": "mnist", "version": "1", "signature_name": ""}
    signatures = meta["metadata"]["signature_def"]["signature_def"]
    assert signatures["serving_default"]["inputs"]["pixels"]["dtype"] == "DT_UINT8"
    assert signatures["serving_images"]["inputs"]["images"]["dtype"] == "DT_STRING"
    assert signatures["serving_float"]["method_name"] == "tensorflow/serving/predict"


def test_b64_images_are_classified_as_the_28x28_they_return(server, test_digits):
    """The digit-finder's 28x28, sent back as pixels, gets exactly the same answer."""
    pixels, labels = test_digits
    by_png = requests.post(
        server + "/versions/1:predict",
        json={"instances": [{"b64": _png_b64(255 - p)} for p in pixels[:5]]},
        timeout=30,
    ).json()["predictions"]
    seen = [p["image"] for p in by_png]
    assert np.asarray(seen).shape == (5, 28, 28)
    by_pixels = requests.post(server + ":predict", json={"instances": seen}, timeout=30).json()
    np.testing.assert_allclose(
        [p["probabilities"] for p in by_pixels["predictions"]],
        [p["probabilities"] for p in by_png],
        atol=1e-6,
    )
    assert [p["classes"] for p in by_png] == labels[:5].tolist()


def test_signature_name_is_honoured(server, test_digits):
    from testbed import sheet

    pixels, labels = test_digits
    row = sheet.encode(sheet.on_paper(sheet.row(np.random.default_rng(1), list(pixels[:3]), 60)))
    number = requests.post(
        server + ":predict",
        timeout=30,
        json={
            "signature_name": "serving_number",
            "instances": [{"b64": base64.b64encode(row).decode()}],
        },
    ).json()["predictions"][0]
    assert number["count"] == 3 and len(number["number"]) == 3
    assert number["number"] == "".join(str(d) for d in number["digits"][:3])
    floats = (pixels[:2] / 255.0)[..., None].tolist()
    as_floats = requests.post(
        server + ":predict",
        timeout=30,
        json={"signature_name": "serving_float", "instances": floats},
    ).json()
    as_pixels = requests.post(
        server + ":predict", json={"instances": pixels[:2].tolist()}, timeout=30
    ).json()
    np.testing.assert_allclose(
        [p["probabilities"] for p in as_floats["predictions"]],
        [p["probabilities"] for p in as_pixels["predictions"]],
        atol=1e-6,
    )
    wrong = requests.post(
        server + ":predict",
        timeout=30,
        json={"signature_name": "serving_images", "instances": pixels[:1].tolist()},
    )
    assert wrong.status_code == 400 and "serving_images takes" in wrong.json()["error"]


def test_no_digit_is_400_with_a_json_error(server):
    blank = _png_b64(np.full((50, 50), 255, np.uint8))
    for signature in ("serving_images", "serving_number"):
        answer = requests.post(
            server + ":predict",
            timeout=30,
            json={"signature_name": signature, "instances": [{"b64": blank}]},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == (
            "the model rejected the input: no digit found: the image is blank or has almost "
            "no contrast"
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
    ids=[
        "bad-json",
        "wrong-shape",
        "not-a-list",
        "strings",
        "floats",
        "out-of-range",
        "nan",
        "ragged",
        "bad-b64",
        "not-an-image",
        "no-key",
        "both-keys",
        "deep-json",
        "deep-instance",
    ],
)
def test_bad_requests_get_400_and_a_json_error(server, body, status, message):
    answer = requests.post(server + ":predict", data=body, timeout=30)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert requests.get(server, timeout=30).status_code == 200  # and the server keeps serving


@pytest.mark.slow
def test_sixteen_decompression_bombs_at_once_are_refused_cheaply(exported, test_digits, tmp_path):
    """A real `mnist-convnet serve` process: 16 b64 PNGs of 20000x20000 black pixels at once.

    Each is refused from its header (400), ordinary requests keep being answered within a
    second, and the server's memory grows by at most 200 MB.
    """
    from tests.helpers import png_bomb

    bomb = {"instances": [{"b64": base64.b64encode(png_bomb(20000, 20000)).decode()}]}
    with serve_process(exported.parent) as (server, url):
        ordinary = {"instances": test_digits[0][:1].tolist()}
        assert requests.post(url + ":predict", json=ordinary, timeout=30).status_code == 200
        before = tree_rss_kb(server.pid)
        with ThreadPoolExecutor(16) as pool:
            bombs = [
                pool.submit(requests.post, url + ":predict", json=bomb, timeout=60)
                for _ in range(16)
            ]
            waits = []
            while not all(b.done() for b in bombs):
                start = time.perf_counter()
                assert requests.post(url + ":predict", json=ordinary, timeout=30).status_code == 200
                waits.append(time.perf_counter() - start)
            answers = [b.result() for b in bombs]
        assert all(a.status_code == 400 for a in answers)
        assert "image is 20000x20000 pixels" in answers[0].json()["error"]
        assert max(waits, default=0) < 1.0
        assert tree_rss_kb(server.pid) - before < 200 * 1024


def test_oversize_body_unknown_model_version_and_method(server):
    big = requests.post(server + ":predict", data=b" " * 10_000_000, timeout=30)
    assert big.status_code == 413 and "larger than" in big.json()["error"]
    other = server.replace("/mnist", "/other")
    assert requests.get(other, timeout=30).status_code == 404
    assert requests.get(server + "/versions/9", timeout=30).status_code == 404
    wrong = requests.get(server + ":predict", timeout=30)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert requests.post(server, timeout=30).status_code == 405


@pytest.mark.parametrize(
    "version",
    ["99999999999999999999999", "9223372036854775808", "²", "١", "-1", "1.0", "0x1"],
)
def test_a_version_that_is_not_an_int64_is_400_never_a_5xx(version):
    """TF Serving reads `/versions/(\\d+)` into an int64; anything else is the client's error
    (a 24-digit number once reached the ModelSpec and raised: a 500)."""
    with pytest.raises(ServingError) as refused:
        rest.route("POST", f"/v1/models/mnist/versions/{version}:predict")
    assert refused.value.status == 400 and "version must be" in str(refused.value)


def test_the_largest_int64_version_is_routed():
    found = rest.route("GET", "/v1/models/mnist/versions/9223372036854775807")
    assert (found.kind, found.model, found.version) == ("status", "mnist", 2**63 - 1)


# --- under load: dynamic batching, the waitress server, slow and vanishing clients ------


@pytest.mark.slow
def test_batched_requests_get_the_answers_of_unbatched_ones(exported, test_digits):
    """32 concurrent one-digit requests through a batching server: each answer equals the
    unbatched server's for the same digit, and the model ran fewer calls than requests."""
    images, _ = test_digits
    options = BatchingOptions(max_batch_size=32, batch_timeout_micros=100_000)
    batched = rest.for_folder(exported.parent, "mnist", batching=options)
    plain = rest.for_folder(exported.parent, "mnist")
    calls = []
    batcher = batched.manager.servable("mnist")._batcher("serving_default")
    real = batcher.fn
    batcher.fn = lambda rows: calls.append(len(rows)) or real(rows)
    digits = [images[i % len(images)] for i in range(32)]
    with serve_in_thread(batched) as url, ThreadPoolExecutor(32) as pool:
        endpoint = url + "/v1/models/mnist:predict"
        answers = list(
            pool.map(
                lambda d: requests.post(endpoint, json={"instances": [d.tolist()]}, timeout=60),
                digits,
            )
        )
        bad = requests.post(endpoint, json={"instances": [[[300] * 28] * 28]}, timeout=60)
    batched.close()
    assert bad.status_code == 400  # refused alone, before it could join a batch
    assert all(a.status_code == 200 for a in answers)
    assert sum(calls) == 32 and len(calls) < 32
    expected = plain.manager.servable("mnist").predict(
        "serving_default", {"pixels": np.stack(digits)}
    )["probabilities"]
    got = np.array([a.json()["predictions"][0]["probabilities"] for a in answers])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_full_batching_queue_answers_503_at_once(exported, test_digits):
    import threading

    options = BatchingOptions(
        max_batch_size=1, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=1
    )
    server = rest.for_folder(exported.parent, "mnist", batching=options)
    batcher = server.manager.servable("mnist")._batcher("serving_default")
    release, started, real = threading.Event(), threading.Event(), batcher.fn
    batcher.fn = lambda rows: (started.set(), release.wait(30), real(rows))[2]
    one = {"instances": [test_digits[0][0].tolist()]}
    with serve_in_thread(server) as url, ThreadPoolExecutor(2) as pool:
        endpoint = url + "/v1/models/mnist:predict"
        running = pool.submit(requests.post, endpoint, json=one, timeout=60)
        started.wait(30)
        queued = pool.submit(requests.post, endpoint, json=one, timeout=60)
        while batcher._queued_rows < 1:
            time.sleep(0.005)
        start = time.perf_counter()
        refused = requests.post(endpoint, json=one, timeout=60)
        assert refused.status_code == 503 and "queue is full" in refused.json()["error"]
        assert time.perf_counter() - start < 2.0
        release.set()
        assert running.result().status_code == 200 and queued.result().status_code == 200
    server.close()


@pytest.fixture(scope="module", params=["granian", "waitress"])
def served(exported, request):
    """`mnist-convnet serve --enable_batching` as `make serve` runs it (granian), and on the
    pure-Python waitress; four request threads each."""
    flags = ("--enable_batching", "--threads=4", f"--server={request.param}")
    with serve_process(exported.parent, *flags) as running:
        yield running


def _open_request(url: str, body_bytes: int, sent: bytes):
    """A raw connection that announced ``body_bytes`` of body and sent only ``sent``."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = (
        f"POST {parts.path}:predict HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_bytes}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


@pytest.mark.slow
def test_slow_and_vanishing_clients_do_not_stall_the_others(served, test_digits):
    """More half-sent requests than the server has threads, held open (a slow client) or
    dropped mid-body: every ordinary request is still answered within a second."""
    process, url = served
    body = json.dumps({"instances": [test_digits[0][0].tolist()]}).encode()
    slow = [_open_request(url, len(body), body[:100]) for _ in range(12)]  # threads=4
    for _ in range(12):
        _open_request(url, len(body), body[: len(body) // 2]).close()  # gone mid-body
    try:
        for _ in range(10):
            start = time.perf_counter()
            answer = requests.post(url + ":predict", data=body, timeout=30)
            assert answer.status_code == 200
            assert time.perf_counter() - start < 1.0
        for sock in slow:  # the slow ones finish, and are answered too
            sock.sendall(body[100:])
            assert sock.recv(12).startswith(b"HTTP/1.1 200")
    finally:
        for sock in slow:
            sock.close()
    assert process.poll() is None


@pytest.mark.slow
def test_the_served_process_answers_concurrent_requests_as_one_alone(served, test_digits):
    """32 digits at once (batched on granian's event loop, or by waitress' threads), plus a
    bad one and a columnar one: each answer is the one the digit gets on its own."""
    _, url = served
    images, _ = test_digits
    endpoint = url + ":predict"
    alone = [
        requests.post(endpoint, json={"instances": [d.tolist()]}, timeout=60).json()
        for d in images[:4]
    ]
    with ThreadPoolExecutor(32) as pool:
        answers = list(
            pool.map(
                lambda i: requests.post(
                    endpoint, json={"instances": [images[i % 4].tolist()]}, timeout=60
                ),
                range(32),
            )
        )
    bad = requests.post(endpoint, json={"instances": [[[300] * 28] * 28]}, timeout=60)
    columnar = requests.post(endpoint, json={"inputs": [images[0].tolist()]}, timeout=60)
    assert bad.status_code == 400 and "0 to 255" in bad.json()["error"]
    assert all(a.status_code == 200 for a in answers)
    for i, answer in enumerate(answers):
        got = answer.json()["predictions"][0]
        expected = alone[i % 4]["predictions"][0]
        assert got["classes"] == expected["classes"]
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-6)
    np.testing.assert_allclose(
        columnar.json()["outputs"]["probabilities"][0],
        alone[0]["predictions"][0]["probabilities"],
        atol=1e-6,
    )


@pytest.mark.slow
def test_the_served_process_explains_a_digit(served, test_digits):
    """`make serve`'s servers answer :explain (the page's panel), and refuse it as :predict."""
    _, url = served
    pixels, truth = test_digits
    label = int((truth[4] + 1) % 10)
    body = {"instances": [pixels[4].tolist()], "label": label}
    answer = requests.post(url + ":explain", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    (explained,) = answer.json()["explanations"]
    assert explained["label"] == label and explained["dL_dz"][label] < 0
    assert np.asarray(explained["dL_dx"]).shape == (28, 28)
    bad = requests.post(url + ":explain", json=dict(body, label=12), timeout=60)
    assert bad.status_code == 400 and "label must be a digit" in bad.json()["error"]


@pytest.mark.slow
def test_the_served_process_refuses_an_oversize_body_from_its_header(served):
    """Announced over what a server will even drop (LINGER_BYTES): 413 before the body."""
    _, url = served
    sock = _open_request(url, 100_000_000, b"{")  # announces 100 MB, sends one byte
    try:
        assert sock.recv(12).startswith(b"HTTP/1.1 413")
    finally:
        sock.close()


def test_deferred_only_for_pixel_requests_waiting_in_a_batch(exported, test_digits):
    """What the event loop may await without a thread (``respond(..., defer=True)``): a
    pixel request queued for a batch. It is parsed and routed once, and answered as the
    WSGI app answers; everything else comes back answered."""
    images, _ = test_digits
    pixels = json.dumps({"instances": [images[0].tolist(), images[1].tolist()]}).encode()
    path = "/v1/models/mnist:predict"
    plain = rest.for_folder(exported.parent, "mnist")
    assert isinstance(plain.respond("POST", path, {}, pixels, defer=True), rest.Reply)
    batched = rest.for_folder(exported.parent, "mnist", batching=BatchingOptions())
    try:
        deferred = batched.respond("POST", path, {}, pixels, defer=True)
        assert isinstance(deferred, rest.Deferred)
        deferred.future.result(timeout=60)
        got = json.loads(deferred.finish(deferred.future).body)
        expected = json.loads(plain.respond("POST", path, {}, pixels).body)
        np.testing.assert_allclose(
            [p["probabilities"] for p in got["predictions"]],
            [p["probabilities"] for p in expected["predictions"]],
            atol=1e-6,
        )
        b64 = _instances({"b64": _png_b64(images[0])})
        for method, where, body, status in [
            ("GET", path, pixels, 405),
            ("POST", "/v1/models/other:predict", pixels, 404),
            ("POST", path, b"{not json", 400),
            ("POST", path, _instances([[300] * 28] * 28), 400),
            ("POST", path, b64, 200),
        ]:
            answer = batched.respond(method, where, {}, body, defer=True)
            assert isinstance(answer, rest.Reply) and answer.status == status, (where, body)
    finally:
        batched.close()
        plain.close()


def test_a_truncated_image_says_so(server, test_digits):
    """Not TensorFlow's "Graph execution error:", but what is wrong with the image."""
    png = base64.b64decode(_png_b64(255 - test_digits[0][0]))
    for cut in (png[: len(png) // 2], png[:40]):
        answer = requests.post(
            server + ":predict",
            json={"instances": [{"b64": base64.b64encode(cut).decode()}]},
            timeout=30,
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == (
            "the model rejected the input: the PNG image is truncated or corrupt: it cannot be "
            "decoded"
        )


def test_labels_and_versions_by_path(exported, tmp_path, test_digits):
    """/labels/<label> reaches the labelled version; a version or label not served is
    404, and naming one never loads it."""
    import shutil

    from mnist_convnet.serving import configs, core

    base = tmp_path / "mnist_convnet"
    for version in (1, 2):
        shutil.copytree(exported, base / str(version))
    policy = configs.VersionPolicy.parse("latest:1")
    manager = core.ModelManager([configs.ModelConfig("mnist", base, policy, {"stable": 2})])
    body = _instances(test_digits[0][0].tolist())
    with serve_in_thread(rest.RestApi(manager)) as url:
        model = url + "/v1/models/mnist"
        by_label = requests.post(model + "/labels/stable:predict", data=body, timeout=30)
        assert by_label.status_code == 200
        assert (
            requests.get(model + "/labels/stable", timeout=30).json()["model_version_status"][0][
                "version"
            ]
            == "2"
        )
        assert (
            requests.post(model + "/labels/canary:predict", data=body, timeout=30).status_code
            == 404
        )
        old = requests.post(model + "/versions/1:predict", data=body, timeout=30)
        assert old.status_code == 404 and "not being served" in old.json()["error"]
        assert [v for v, *_ in manager.status("mnist")] == [2]  # 1 was never loaded
    manager.close()


def test_too_many_images_in_one_request_is_refused_before_reading(server, test_digits):
    one = {"b64": _png_b64(255 - test_digits[0][0])}
    answer = requests.post(server + ":predict", json={"instances": [one] * 33}, timeout=30)
    assert answer.status_code == 400 and "at most 32 images per request" in answer.json()["error"]


# --- :explain -------------------------------------------------------------------------


def test_explain_answers_the_signatures_arrays_for_pixels_and_photos(
    server, saved_model, test_digits
):
    """:explain is serving_explain's outputs as JSON, one object per instance with its
    layers in order; a photo is explained as the 28x28 the digit-finder made of it."""
    import tensorflow as tf

    pixels, truth = test_digits
    label = int((truth[0] + 1) % 10)
    answers = [
        requests.post(server + ":explain", json={"instances": [i], "label": label}, timeout=60)
        for i in (pixels[0].tolist(), {"b64": _png_b64(255 - pixels[1])})
    ]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    (by_pixels,), (by_photo,) = (a.json()["explanations"] for a in answers)
    seen = requests.post(
        server + ":predict", json={"instances": [{"b64": _png_b64(255 - pixels[1])}]}, timeout=30
    ).json()["predictions"][0]["image"]
    assert by_pixels["image"] == pixels[0].tolist() and by_photo["image"] == seen

    signature = saved_model.signatures["serving_explain"]
    images = np.array([pixels[0], seen], np.float32)[..., None] / 255
    direct = signature(
        images=tf.constant(images),
        label=tf.constant([label, label], tf.int64),
        learning_rate=tf.constant([0.01, 0.01]),
    )
    for b, got in enumerate((by_pixels, by_photo)):
        assert got["label"] == label and got["learning_rate"] == 0.01
        for what in ("loss", "loss_after_step", "probabilities", "dL_dz", "dL_dx"):
            np.testing.assert_allclose(got[what], direct[what][b], rtol=1e-6, atol=1e-9)
        assert [layer["kind"] for layer in got["layers"]] == [
            "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"
        ]  # fmt: skip
        for i, layer in enumerate(got["layers"]):
            for what in ("output", "dL_doutput", "dL_dkernel", "dL_dbias"):
                key = f"layer{i}/{what}"
                assert (what in layer) == (key in direct)
                if what in layer:
                    np.testing.assert_allclose(layer[what], direct[key][b], rtol=1e-6, atol=1e-9)
        y = np.eye(10)[label]
        np.testing.assert_allclose(got["dL_dz"], np.asarray(got["probabilities"]) - y, atol=1e-6)


def test_explain_without_a_label_explains_the_answer(server, test_digits):
    pixels, _ = test_digits
    predicted = requests.post(server + ":predict", data=_instances(pixels[2].tolist()), timeout=30)
    answer = requests.post(server + ":explain", data=_instances(pixels[2].tolist()), timeout=60)
    (explained,) = answer.json()["explanations"]
    assert explained["label"] == predicted.json()["predictions"][0]["classes"]
    # -ln p from a float32 p near 1: good to its spacing (6e-8) over p, not relatively
    assert explained["loss"] == pytest.approx(-np.log(max(explained["probabilities"])), abs=1e-6)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"instances": [[[0] * 28] * 28], "label": 10}, "label must be a digit"),
        ({"instances": [[[0] * 28] * 28], "label": "3"}, "label must be a digit"),
        ({"instances": [[[0] * 28] * 28], "label": True}, "label must be a digit"),
        ({"instances": [[[0] * 28] * 28], "learning_rate": -1}, "learning_rate must be"),
        ({"instances": [[[0] * 28] * 28], "learning_rate": 1e300}, "learning_rate must be"),
        ({"instances": [[[0] * 28] * 28]} | {"signature_name": "x"}, 'has "instances"'),
        ({"instances": [[[0] * 28] * 28] * 9}, "at most 8 instances"),
        ({"instances": []}, "non-empty list"),
        ({"instances": [[[300] * 28] * 28]}, "integers from 0 to 255"),
        ({"instances": [{"b64": "aGVsbG8="}]}, "rejected the input"),
    ],
    ids=[
        "label-10",
        "label-text",
        "label-bool",
        "negative-rate",
        "huge-rate",
        "unknown-key",
        "too-many",
        "empty",
        "out-of-range",
        "not-an-image",
    ],
)
def test_bad_explain_requests_get_400_as_predict_does(server, body, message):
    answer = requests.post(server + ":explain", json=body, timeout=30)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert requests.get(server + ":explain", timeout=30).status_code == 405


def test_a_version_exported_before_explain_says_so(short_run, tmp_path, test_digits):
    """An older export (no serving_explain) is still served; :explain says what to do."""
    import keras

    from mnist_convnet.export import signatures

    archive = keras.export.ExportArchive()
    archive.track(short_run[0].model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda pixels: {
            "probabilities": short_run[0].model(signatures.pixels_to_floats(pixels))
        },
        input_signature=[signatures.PIXELS],
    )
    archive.write_out(str(tmp_path / "old" / "1"), verbose=False)
    with serve_in_thread(rest.for_folder(tmp_path / "old", "old")) as url:
        body = _instances(test_digits[0][0].tolist())
        assert requests.post(url + "/v1/models/old:predict", data=body, timeout=30).ok
        answer = requests.post(url + "/v1/models/old:explain", data=body, timeout=30)
    assert answer.status_code == 400
    assert "has no serving_explain signature: export it again" in answer.json()["error"]


def _oversize_with(client: str, url: str, body: bytes) -> tuple[int | str, str]:
    """(status, body) of a POST of ``body`` by ``client``, or ("error", what it raised)."""
    import subprocess
    import tempfile
    import urllib.error
    import urllib.request

    import httpx

    try:
        if client == "urllib":
            request = urllib.request.Request(url, data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()
        if client == "requests":
            answer = requests.post(url, data=body, timeout=60)
            return answer.status_code, answer.text
        if client == "httpx":
            answer = httpx.post(url, content=body, timeout=60)
            return answer.status_code, answer.text
        with tempfile.NamedTemporaryFile() as file:
            file.write(body)
            file.flush()
            done = subprocess.run(
                ["curl", "-sS", "-w", "\n%{http_code}", "--data-binary", f"@{file.name}", url],
                capture_output=True,
                text=True,
                timeout=60,
            )
        text, _, code = done.stdout.rpartition("\n")
        return (int(code) if done.returncode == 0 else "error"), text or done.stderr
    except Exception as error:  # noqa: BLE001 - what the client raised is the finding
        return "error", repr(error)


@pytest.fixture(scope="module", params=["granian", "waitress", "werkzeug"])
def any_server(exported, request):
    with serve_process(exported.parent, f"--server={request.param}", "--threads=2") as running:
        yield running[1]


@pytest.mark.slow
@pytest.mark.parametrize("client", ["urllib", "requests", "httpx", "curl"])
def test_every_client_reads_the_413_of_an_oversize_body(any_server, client):
    """12 MB against the 4 MB limit: urllib sends all of it before it reads an answer, so
    the server must read the rest (and drop it) before it closes, or urllib gets a
    broken pipe instead of the sentence that says what the limit is."""
    status, text = _oversize_with(client, any_server + ":predict", b" " * 12_000_000)
    assert status == 413, text
    assert "request body larger than 4194304 bytes" in json.loads(text)["error"]
