"""The REST app behind an ASGI server: each body read in full by the event loop, then a thread.

``mnist-convnet serve`` runs on granian, an HTTP server written in Rust: it parses HTTP
and keeps connections without Python's GIL, which on two cores is what lets batched
requests reach ~1,000 a second with a p99 under 50 ms (docs/serving.md). Granian speaks
ASGI; our app (``rest.ModelServer``) is WSGI, blocking in a thread while the batcher
gathers rows. ``AsgiApp`` joins the two the way a loaded server needs:

- the request body is read on the event loop, without a thread: a client that sends its
  body slowly, or vanishes mid-body, holds no thread and stalls nobody (a WSGI server
  hands ``wsgi.input`` to a thread that then waits on the socket);
- a body announcing more than ``max_body_bytes`` gets 413 from its header before a byte
  of it is read, and one sent without a length is cut off at the limit;
- then the WSGI app runs in a pool of ``threads`` threads, so requests can wait for a
  batch together (``asgiref``'s adapter runs every WSGI call on one shared thread, and
  reads bodies of any size to disk first).
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

Message = dict[str, Any]


class AsgiApp:
    """An ASGI application running a WSGI one (``close()`` is called at shutdown)."""

    def __init__(
        self,
        wsgi_app: Callable,
        max_body_bytes: int,
        threads: int,
        submit: Callable[[str, str, bytes], tuple[Future, Callable] | None] | None = None,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.max_body_bytes = max_body_bytes
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")
        self.submit = submit

    async def __call__(self, scope: Message, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Message, receive: Callable, send: Callable) -> None:
        length = _content_length(scope["headers"])
        if length is not None and length > self.max_body_bytes:
            await self._too_large(send)  # from the header: nothing of the body is read
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left mid-body: no thread was ever taken
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._too_large(send)
                return
        body = bytes(body)
        if self.submit is not None and await self._batched(scope, body, send):
            return
        environ = wsgi_environ(scope, body)
        loop = asyncio.get_running_loop()
        status, headers, payload = await loop.run_in_executor(self.pool, self._run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _batched(self, scope: Message, body: bytes, send: Callable) -> bool:
        """Answers a request that ``submit`` queued for a batch, awaiting the batch on the
        event loop: no thread waits for it. False if it was not queued, or failed (the WSGI
        app then serves it alone, and answers its error)."""
        queued = self.submit(scope["method"], scope["path"], body)
        if queued is None:
            return False
        future, render = queued
        try:
            outputs = await asyncio.wrap_future(future)
        except Exception:
            return False
        await _send_json(send, 200, render(outputs))
        return True

    async def _too_large(self, send: Callable) -> None:
        payload = json.dumps({"error": f"request body larger than {self.max_body_bytes} bytes"})
        await _send_json(send, 413, payload.encode())

    def _run(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The WSGI call, in a pool thread: (status, headers, body)."""
        started: list = []

        def start_response(status: str, headers: list, exc_info=None) -> None:
            started[:] = [int(status.split()[0]), headers]

        chunks = self.wsgi_app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = started
        return (
            status,
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            payload,
        )

    def close(self) -> None:
        """Lets requests under way finish, then closes the WSGI app (its batch threads)."""
        self.pool.shutdown(wait=True)
        if hasattr(self.wsgi_app, "close"):
            self.wsgi_app.close()


async def _send_json(send: Callable, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def wsgi_environ(scope: Message, body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope whose body has been read."""
    server = scope.get("server") or ("127.0.0.1", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": scope["path"],
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ[key] = value.decode("latin-1")
        elif key != "CONTENT_LENGTH":
            environ["HTTP_" + key] = value.decode("latin-1")
    return environ
