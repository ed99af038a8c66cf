"""The REST API behind an ASGI server (granian): bodies read by the event loop, work in threads.

``mnist-convnet serve`` runs on granian, an HTTP server written in Rust: it parses HTTP
and keeps connections without Python's GIL, which is what lets batched requests reach
about a thousand a second on a small CPU (measured: docs/serving.md). ``AsgiApp``
joins it to ``rest.RestApi`` the way a loaded server needs:

- the request body is read on the event loop, without a thread: a client that sends its
  body slowly, or vanishes mid-body, holds no thread and stalls nobody;
- a body announcing more than ``max_body_bytes`` gets 413 from its header before a byte
  of it is read, and one sent without a length is cut off at the limit; either way the
  rest of the body is then read and thrown away for a while (``linger``, nginx's
  lingering close), so a client that sends its whole body before it reads an answer
  (Python's urllib) reads the 413 instead of a broken pipe;
- a small ``:predict`` (one to a few 28x28 instances) is routed, parsed and checked on
  the loop itself, where that costs less than handing it to a thread and back
  (``RestApi.on_the_loop``); its model call still never runs on the loop: pixel rows go
  to a batch, images and unbatched calls to the pool;
- everything else is routed, parsed and checked in a pool of ``threads`` threads (a
  large body's parsing would hold the loop: docs/serving.md). A pixel request
  that went to a batch, or a model call in the pool, comes back as a ``rest.Deferred``,
  and the loop awaits it: no thread waits for it;
- at shutdown the pool is drained in a thread, so the loop keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mnist_convnet.serving.options import LINGER_BYTES
from mnist_convnet.serving.rest import Deferred, Reply, RestApi

Message = dict[str, Any]


class AsgiApp:
    """An ASGI application answering with a ``RestApi`` (closed at lifespan shutdown)."""

    def __init__(self, rest_api: RestApi, threads: int) -> None:
        self.rest_api = rest_api
        self.max_body_bytes = rest_api.max_body_bytes
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")

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
                await asyncio.to_thread(self.close)  # requests under way finish meanwhile
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Message, receive: Callable, send: Callable) -> None:
        length = _content_length(scope["headers"])
        if length is not None and length > self.max_body_bytes:
            await self._too_large(send)  # from the header: nothing of the body is kept
            if not _expects_continue(scope["headers"]):  # such a client sends no body now
                await linger(receive)
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
                if more:
                    await linger(receive)
                return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        if self.rest_api.on_the_loop(method, path, len(body)):
            answer = self.rest_api.respond(method, path, headers, bytes(body), True, self.pool)
        else:
            answer = await asyncio.get_running_loop().run_in_executor(
                self.pool, self.rest_api.respond, method, path, headers, bytes(body), True
            )
        if isinstance(answer, Deferred):
            try:
                await asyncio.wrap_future(answer.future)
            except Exception:
                pass  # finish() answers the batch's error
            answer = answer.finish(answer.future)
        await _send(send, answer, head=scope["method"] == "HEAD")

    async def _too_large(self, send: Callable) -> None:
        reply = self.rest_api.too_large()
        reply.headers.append(("Connection", "close"))
        await _send(send, reply)

    def close(self) -> None:
        """Lets requests under way finish, then closes the API (its batch threads)."""
        self.pool.shutdown(wait=True)
        self.rest_api.close()


async def _send(send: Callable, reply: Reply, head: bool = False) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else reply.body})


LINGER_SECONDS = 10.0  # a refused body is dropped for at most LINGER_BYTES, this long ...
LINGER_IDLE_SECONDS = 2.0  # ... or until the client sends nothing for this long


async def linger(receive: Callable) -> int:
    """Reads and drops what is left of a refused body, within the budgets above, and
    returns how many bytes that was. A client still sending gets to the end of its body,
    and then reads the answer already sent; the connection closes after (the answer says
    ``Connection: close``). It costs no memory, and a client that sends for ever is cut
    off by the budgets."""
    dropped = 0
    try:
        async with asyncio.timeout(LINGER_SECONDS):
            while dropped < LINGER_BYTES:
                message = await asyncio.wait_for(receive(), LINGER_IDLE_SECONDS)
                dropped += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
    except TimeoutError:
        pass
    return dropped


def _expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k == b"expect" and v.lower() == b"100-continue" for k, v in headers)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
