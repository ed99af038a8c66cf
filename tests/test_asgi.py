"""asgi.py: the WSGI app behind ASGI, driven with ASGI messages (no server, no model).

What a real client does over HTTP is tested in tests/test_rest.py against `mnist-convnet
serve` (granian); here each property of the adapter is pinned down on its own.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future

from mnist_convnet.asgi import AsgiApp, wsgi_environ


def _scope(body_length: int | None = None, method: str = "POST") -> dict:
    headers = [(b"content-type", b"application/json"), (b"x-trace", b"7")]
    if body_length is not None:
        headers.append((b"content-length", str(body_length).encode()))
    return {
        "type": "http",
        "method": method,
        "path": "/v1/models/mnist:predict",
        "query_string": b"a=1",
        "headers": headers,
        "server": ("127.0.0.1", 8501),
    }


def _request(app: AsgiApp, scope: dict, messages: list[dict]) -> tuple[list[dict], int]:
    """Runs one request; returns what the app sent and how many messages it read."""
    sent, read = [], 0

    async def receive():
        nonlocal read
        read += 1
        return messages[read - 1]

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, read


class Echo:
    """A WSGI app that answers with what it was given, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def __call__(self, environ, start_response):
        self.calls += 1
        body = environ["wsgi.input"].read()
        answer = {
            "body": body.decode(),
            "path": environ["PATH_INFO"],
            "query": environ["QUERY_STRING"],
            "type": environ.get("CONTENT_TYPE"),
            "trace": environ.get("HTTP_X_TRACE"),
            "length": environ["CONTENT_LENGTH"],
        }
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Echo", "1")])
        return [json.dumps(answer).encode()]

    def close(self) -> None:
        self.closed = True


def test_a_body_in_pieces_reaches_the_wsgi_app_whole_and_the_answer_comes_back():
    echo = Echo()
    app = AsgiApp(echo, max_body_bytes=100, threads=2)
    pieces = [
        {"type": "http.request", "body": b'{"inst', "more_body": True},
        {"type": "http.request", "body": b'ances": []}', "more_body": False},
    ]
    sent, _ = _request(app, _scope(), pieces)
    start, body = sent
    assert start["status"] == 201
    assert (b"x-echo", b"1") in start["headers"]
    answer = json.loads(body["body"])
    assert answer == {
        "body": '{"instances": []}',
        "path": "/v1/models/mnist:predict",
        "query": "a=1",
        "type": "application/json",
        "trace": "7",
        "length": "17",
    }


def test_a_body_announced_too_large_is_413_before_any_of_it_is_read():
    echo = Echo()
    app = AsgiApp(echo, max_body_bytes=100, threads=1)
    sent, read = _request(app, _scope(body_length=101), [])
    assert read == 0 and echo.calls == 0
    assert sent[0]["status"] == 413
    assert "larger than 100 bytes" in json.loads(sent[1]["body"])["error"]


def test_a_body_sent_without_a_length_is_cut_off_at_the_limit():
    echo = Echo()
    app = AsgiApp(echo, max_body_bytes=100, threads=1)
    endless = [{"type": "http.request", "body": b"x" * 60, "more_body": True}] * 10
    sent, read = _request(app, _scope(), endless)
    assert read == 2 and echo.calls == 0
    assert sent[0]["status"] == 413


def test_a_client_gone_mid_body_never_reaches_the_wsgi_app():
    echo = Echo()
    app = AsgiApp(echo, max_body_bytes=100, threads=1)
    gone = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    sent, _ = _request(app, _scope(), gone)
    assert sent == [] and echo.calls == 0


def test_requests_wait_in_the_wsgi_app_together():
    """Two requests inside the WSGI app at once (as requests waiting for one batch are):
    each blocks until the other has arrived, so one shared thread would hang."""
    arrived = threading.Barrier(2, timeout=10)

    def meet(environ, start_response):
        arrived.wait()
        start_response("200 OK", [])
        return [b"ok"]

    app = AsgiApp(meet, max_body_bytes=100, threads=2)
    request = [{"type": "http.request", "body": b"", "more_body": False}]

    async def both():
        async def one():
            sent = []

            async def receive():
                return request[0]

            async def send(message):
                sent.append(message)

            await app(_scope(), receive, send)
            return sent[0]["status"]

        return await asyncio.gather(one(), one())

    assert asyncio.run(both()) == [200, 200]


def test_shutdown_closes_the_wsgi_app():
    echo = Echo()
    app = AsgiApp(echo, max_body_bytes=100, threads=1)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent, _ = _request(app, {"type": "lifespan"}, messages)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert echo.closed


def test_the_environ_follows_pep_3333():
    environ = wsgi_environ(_scope(), b"abc")
    assert environ["REQUEST_METHOD"] == "POST"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8501")
    assert environ["wsgi.input"].read() == b"abc"
    assert environ["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ


def _done(outputs=None, error=None) -> Future:
    future = Future()
    if error is None:
        future.set_result(outputs)
    else:
        future.set_exception(error)
    return future


def test_a_request_queued_for_a_batch_is_answered_without_the_wsgi_app():
    echo = Echo()
    seen = []

    def submit(method, path, body):
        seen.append((method, path, body))
        return _done({"p": 1}), lambda outputs: json.dumps(outputs).encode()

    app = AsgiApp(echo, max_body_bytes=100, threads=1, submit=submit)
    request = [{"type": "http.request", "body": b"{}", "more_body": False}]
    sent, _ = _request(app, _scope(), request)
    assert seen == [("POST", "/v1/models/mnist:predict", b"{}")]
    assert echo.calls == 0
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"p": 1}


def test_requests_not_queued_or_failed_in_their_batch_go_to_the_wsgi_app():
    request = [{"type": "http.request", "body": b"{}", "more_body": False}]
    for queued in (None, (_done(error=ValueError("bad row")), None)):
        echo = Echo()
        app = AsgiApp(echo, max_body_bytes=100, threads=1, submit=lambda *_, q=queued: q)
        sent, _ = _request(app, _scope(), request)
        assert echo.calls == 1 and sent[0]["status"] == 201
