"""asgi.py: the REST API behind ASGI, driven with ASGI messages (no server, no model).

What a real client does over HTTP is tested in test_rest.py against `mnist-convnet serve`
(granian); here each property of the adapter is pinned down on its own, with a stand-in
for ``rest.RestApi`` that answers with what it was given.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import Future

from mnist_convnet.serving.asgi import AsgiApp
from mnist_convnet.serving.rest import INLINE_BODY_BYTES, Deferred, Reply, RestApi


def _scope(
    body_length: int | None = None, method: str = "POST", path: str = "/p", *extra: tuple
) -> dict:
    headers = [(b"content-type", b"application/json"), (b"x-trace", b"7"), *extra]
    if body_length is not None:
        headers.append((b"content-length", str(body_length).encode()))
    return {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}


def _request(app: AsgiApp, scope: dict, messages: list[dict]) -> tuple[list[dict], int]:
    """Runs one request; returns what the app sent and how many messages it read."""
    sent, read = [], 0

    async def receive():
        nonlocal read
        read += 1
        return messages[read - 1]

    async def send(message):
        sent.append(dict(message, read_before=read))

    asyncio.run(app(scope, receive, send))
    return sent, read


class Echo:
    """A stand-in RestApi: answers with what it was given, counting calls and threads."""

    max_body_bytes = 100
    on_the_loop = staticmethod(RestApi.on_the_loop)
    too_large = RestApi.too_large
    error = RestApi.error
    json = staticmethod(RestApi.json)

    def __init__(self, deferred: Future | None = None, max_body_bytes: int = 100) -> None:
        self.calls, self.threads, self.closed = 0, set(), False
        self.deferred = deferred
        self.max_body_bytes = max_body_bytes
        self.executors = []

    def respond(self, method, path, headers, body, defer=False, executor=None):
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        self.executors.append(executor)
        answer = {"body": body.decode(), "path": path, "trace": headers.get("x-trace")}
        if self.deferred is not None and defer:
            render = lambda done: Reply(200, [], json.dumps(done.result()).encode())
            return Deferred(self.deferred, render)
        return Reply(
            201,
            [("Content-Type", "application/json"), ("X-Echo", "1")],
            json.dumps(answer).encode(),
        )

    def close(self) -> None:
        time.sleep(0.2)  # as if batches were still draining
        self.closed = True


def test_a_body_in_pieces_reaches_the_api_whole_in_a_pool_thread():
    echo = Echo()
    app = AsgiApp(echo, threads=2)
    pieces = [
        {"type": "http.request", "body": b'{"inst', "more_body": True},
        {"type": "http.request", "body": b'ances": []}', "more_body": False},
    ]
    sent, _ = _request(app, _scope(), pieces)
    start, body = sent
    assert start["status"] == 201 and (b"x-echo", b"1") in start["headers"]
    assert json.loads(body["body"]) == {"body": '{"instances": []}', "path": "/p", "trace": "7"}
    assert all(name.startswith("request") for name in echo.threads)  # never on the loop


def test_a_small_predict_is_parsed_on_the_loop_with_the_pool_for_its_model_call():
    """One 28x28 instance costs less to parse than a hop to a thread and back: the loop
    reads it, and hands the API the pool for the model call it must not make itself."""
    echo = Echo(max_body_bytes=2 * INLINE_BODY_BYTES)
    app = AsgiApp(echo, threads=1)
    body = json.dumps({"instances": [[[0] * 28] * 28]}).encode()
    request = [{"type": "http.request", "body": body, "more_body": False}]
    sent, _ = _request(app, _scope(path="/v1/models/mnist:predict"), request)
    assert sent[0]["status"] == 201
    assert echo.threads == {"MainThread"} and echo.executors == [app.pool]


def test_a_large_predict_and_every_other_request_are_answered_in_a_pool_thread():
    echo = Echo(max_body_bytes=2 * INLINE_BODY_BYTES)
    app = AsgiApp(echo, threads=1)
    large = [{"type": "http.request", "body": b" " * (INLINE_BODY_BYTES + 1), "more_body": False}]
    _request(app, _scope(path="/v1/models/mnist:predict"), large)
    empty = [{"type": "http.request", "body": b"", "more_body": False}]
    _request(app, _scope(method="GET", path="/v1/models/mnist"), empty)
    _request(app, _scope(path="/v1/models/mnist:explain"), empty)
    assert echo.calls == 3 and echo.executors == [None, None, None]
    assert all(name.startswith("request") for name in echo.threads)


def _chunks(count: int, size: int = 60) -> list[dict]:
    """A body in ``count`` chunks, the last one ending it."""
    chunk = {"type": "http.request", "body": b"x" * size, "more_body": True}
    return [chunk] * (count - 1) + [dict(chunk, more_body=False)]


def test_a_body_announced_too_large_is_413_before_any_of_it_is_read():
    """The 413 goes out from the header; the body is then read and dropped (a client that
    sends all of it before reading, as urllib does, reads the answer, not a broken pipe)."""
    echo = Echo()
    sent, read = _request(AsgiApp(echo, threads=1), _scope(body_length=240), _chunks(4))
    assert sent[0]["read_before"] == 0 and sent[0]["status"] == 413 and echo.calls == 0
    assert (b"connection", b"close") in sent[0]["headers"]
    assert "larger than 100 bytes" in json.loads(sent[1]["body"])["error"]
    assert read == 4  # the rest of the body, dropped


def test_a_client_that_waits_for_100_continue_is_not_waited_for():
    expect = (b"expect", b"100-continue")
    sent, read = _request(AsgiApp(Echo(), threads=1), _scope(240, "POST", "/p", expect), [])
    assert read == 0 and sent[0]["status"] == 413


def test_a_body_sent_without_a_length_is_cut_off_at_the_limit():
    echo = Echo()
    sent, read = _request(AsgiApp(echo, threads=1), _scope(), _chunks(10))
    assert sent[0]["read_before"] == 2 and echo.calls == 0 and sent[0]["status"] == 413
    assert read == 10


def test_lingering_stops_at_its_byte_and_idle_budgets(monkeypatch):
    from mnist_convnet.serving import asgi

    monkeypatch.setattr(asgi, "LINGER_BYTES", 600)  # the name asgi reads it by
    endless = iter([{"type": "http.request", "body": b"x" * 100, "more_body": True}] * 1000)
    assert asyncio.run(asgi.linger(lambda: _now(next(endless)))) == 600

    monkeypatch.setattr(asgi, "LINGER_IDLE_SECONDS", 0.05)

    async def silent():
        await asyncio.sleep(60)

    started = time.monotonic()
    assert asyncio.run(asgi.linger(silent)) == 0
    assert time.monotonic() - started < 5


async def _now(message: dict) -> dict:
    return message


def test_a_client_gone_mid_body_never_reaches_the_api():
    echo = Echo()
    gone = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    sent, _ = _request(AsgiApp(echo, threads=1), _scope(), gone)
    assert sent == [] and echo.calls == 0


def test_a_deferred_answer_is_awaited_on_the_loop_and_then_sent():
    future: Future = Future()
    echo = Echo(deferred=future)
    threading.Timer(0.1, lambda: future.set_result({"p": 1})).start()
    request = [{"type": "http.request", "body": b"{}", "more_body": False}]
    sent, _ = _request(AsgiApp(echo, threads=1), _scope(), request)
    assert echo.calls == 1
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"p": 1}


def test_a_path_outside_latin_1_reaches_the_api_as_text():
    """A path such as /v1/models/模:predict is the API's to refuse (404), not a crash."""
    echo = Echo()
    request = [{"type": "http.request", "body": b"", "more_body": False}]
    sent, _ = _request(AsgiApp(echo, threads=1), _scope(path="/v1/models/模:predict"), request)
    assert sent[0]["status"] == 201 and json.loads(sent[1]["body"])["path"].endswith("模:predict")


def test_a_head_request_gets_headers_and_no_body():
    request = [{"type": "http.request", "body": b"", "more_body": False}]
    sent, _ = _request(AsgiApp(Echo(), threads=1), _scope(method="HEAD"), request)
    assert sent[0]["status"] == 201 and sent[1]["body"] == b""


def test_shutdown_closes_the_api_without_blocking_the_loop():
    """While the API drains at shutdown (0.2 s here), the event loop keeps running."""
    echo = Echo()
    app = AsgiApp(echo, threads=1)
    ticks = []

    async def run():
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent = []

        async def receive():
            return next(messages)

        async def send(message):
            sent.append(message["type"])

        async def tick():
            while "lifespan.shutdown.complete" not in sent:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)

        await asyncio.gather(app({"type": "lifespan"}, receive, send), tick())
        return sent

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert echo.closed and len(ticks) >= 5
