"""TF Serving's REST API, and the page, over the model manager: routing and answers.

    GET  /                                          the draw-a-digit page (``static.py``)
    GET  /reader.tflite, /trainable.tflite          the latest version's reader and trainable
                                                    files, which the page runs on the device
                                                    (LiteRT.js)
    GET  /litert/{core,wasm-utils,wasm}/<file>      LiteRT.js, from the npm install that
                                                    `make install` makes
    GET  /v1/models/<name>[<which>]             the status of its versions
    GET  /v1/models/<name>[<which>]/metadata    its SignatureDefs
    POST /v1/models/<name>[<which>]:predict     {"instances": ...} or {"inputs": ...}
    POST /v1/models/<name>[<which>]:explain     {"instances": [...], "label": k}: the
                                                article's backward pass (``explain.py``)

where <which> is /versions/<N> or /labels/<label> (without it: the latest version)
    GET  <metrics path>                             Prometheus text, when enabled (metrics.py)

Status and metadata are TF Serving's messages printed as JSON (``api.py``, shared with
gRPC); ``:predict`` speaks TF Serving's JSON (``protocol.py``). Every refusal is a 4xx
(or 503 for "busy, try again") with ``{"error": "..."}``, and the server keeps serving.

``route`` reads a request line once, by the table ``ROUTES`` (path, method, kind);
``RestApi.respond`` answers it with the kind's handler. With ``defer``, a
pixel ``:predict`` that went to a batcher comes back as a ``Deferred`` (the batch's
future and how to finish the answer), so an event loop can await the batch without
holding a thread (``asgi.py``); everything else is answered at once.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
from absl import logging
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from mnist_convnet import contract
from mnist_convnet.serving import api, inputs, protocol, static
from mnist_convnet.serving.batching import BatchingOptions
from mnist_convnet.serving.configs import ModelConfig
from mnist_convnet.serving.core import ModelManager
from mnist_convnet.serving.options import MAX_BODY_BYTES
from mnist_convnet.serving.status import ServingError, invalid, not_found

_MODEL = (
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
)
# The routes, in the order they are tried: what the path is, the method it takes, and
# what answers it (a handler of RestApi, by kind). WSGI and ASGI requests both come
# through ``route``; the metrics path, when enabled, is tried first.
ROUTES: tuple[tuple[re.Pattern, str, str], ...] = (
    (re.compile(r"^/(?:index\.html)?$"), "GET", "page"),
    (re.compile(r"^/(?:reader|trainable)\.tflite$"), "GET", "device_file"),
    (re.compile(r"^/litert/"), "GET", "litert"),
    (re.compile(_MODEL + r"$"), "GET", "status"),
    (re.compile(_MODEL + r"/metadata$"), "GET", "metadata"),
    (re.compile(_MODEL + r":predict$"), "POST", "predict"),
    (re.compile(_MODEL + r":explain$"), "POST", "explain"),
)
_POSTS = ("predict", "explain")
INLINE_BODY_BYTES = 8 * 1024  # up to three 28x28 instances as JSON: see on_the_loop
CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, GET"),
    ("Access-Control-Allow-Headers", "Content-Type"),
]

Headers = list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Route:
    """What a request line asks for: ``kind`` (page, device_file, litert, metrics, status,
    metadata, predict, explain) and, for a model's endpoints, its name, version or label."""

    kind: str
    path: str
    model: str = ""
    version: int | None = None
    label: str | None = None


@dataclasses.dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes
    code: str = "OK"  # TF Serving's name for how it ended, for the request count


@dataclasses.dataclass
class Deferred:
    """A ``:predict`` waiting in a batch: ``finish(future)`` makes its Reply once done."""

    future: Future
    finish: Callable[[Future], Reply]


_INT64_MAX = 2**63 - 1


def _version(text: str | None) -> int | None:
    """A path's version as TF Serving reads it: ASCII digits that fit its int64 field
    (``str.isdigit`` also takes "²" and "١", which ``int`` refuses or reads as 1)."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > _INT64_MAX:
        raise invalid(f"version must be a number from 0 to {_INT64_MAX}, got {text!r}")
    return int(text)


def route(method: str, path: str, metrics_path: str | None = None) -> Route:
    """The one reading of a request line, by ``ROUTES``; 404/405 for what it cannot be."""
    routes = ROUTES
    if metrics_path is not None:
        routes = ((re.compile(f"^{re.escape(metrics_path)}$"), "GET", "metrics"), *ROUTES)
    found = next(((m, w, k) for p, w, k in routes if (m := p.match(path))), None)
    if found is None:
        raise not_found(f"no such endpoint: {path}")
    match, wanted, kind = found
    if method != wanted and not (wanted == "GET" and method == "HEAD"):
        allow = "POST" if wanted == "POST" else "GET, HEAD"
        raise ServingError(
            "INVALID_ARGUMENT", f"use {wanted} for this endpoint", 405, (("Allow", allow),)
        )
    fields = match.groupdict()
    return Route(
        kind, path, fields.get("name", ""), _version(fields.get("version")), fields.get("label")
    )


class RestApi:
    """The WSGI application, and ``respond`` for servers that read the body themselves."""

    def __init__(
        self,
        manager: ModelManager,
        max_body_bytes: int = MAX_BODY_BYTES,
        metrics_path: str | None = None,
        cors: bool = False,
    ) -> None:
        self.manager = manager
        self.max_body_bytes = max_body_bytes
        self.metrics_path = metrics_path
        self.cors = cors
        self.closers: list[Callable[[], object]] = []  # what else stops with it (gRPC)
        self._page_answer: static.Answer | None = None
        self._handlers = {
            "page": self._page,
            "device_file": self._device_file,
            "litert": self._litert,
            "metrics": self._metrics,
            "status": self._status,
            "metadata": self._metadata,
        }

    # --- the two ways in ----------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_body_bytes
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            reply = self.too_large()
        else:
            reply = self.respond(request.method, request.path, dict(request.headers), body)
        start_response(f"{reply.status} {_REASONS.get(reply.status, '')}", reply.headers)
        return [b"" if request.method == "HEAD" else reply.body]

    def respond(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        defer: bool = False,
        executor: Executor | None = None,
    ) -> Reply | Deferred:
        """The answer to one request, or with ``defer`` possibly a Deferred (see above).
        With an ``executor`` too, a ``:predict``'s model call runs there, never in the
        caller: an event loop answers small pixel requests itself (``on_the_loop``)."""
        started = time.monotonic()
        found = None
        try:
            if method == "OPTIONS":
                return self._finish(self._preflight(headers))
            found = route(method, path, self.metrics_path)
            answer = self._dispatch(found, body, defer, executor)
        except ServingError as error:
            answer = self._refusal(error)
        except Exception as error:  # a bug of ours: say so in JSON, log it, keep serving
            logging.exception("error serving %s %s", method, path)
            answer = self.error(500, f"internal error: {type(error).__name__}")
        if isinstance(answer, Deferred):
            finish = answer.finish
            answer.finish = lambda future: self._finish(
                self._record(found, started, finish(future))
            )
            return answer
        return self._finish(self._record(found, started, answer))

    # --- endpoints ----------------------------------------------------------------------

    @staticmethod
    def on_the_loop(method: str, path: str, body_bytes: int) -> bool:
        """Whether an event loop may answer this request itself (``respond`` with an
        executor): a ``:predict`` whose body parses in less time than a hand-off to a
        thread and back costs, with its wait for the GIL among the pool's threads
        (docs/serving.md measures both). Its model call still runs in a batch or on the
        executor; a larger body is parsed in a thread, never on the loop."""
        return method == "POST" and body_bytes <= INLINE_BODY_BYTES and path.endswith(":predict")

    def _dispatch(
        self, found: Route, body: bytes, defer: bool, executor: Executor | None = None
    ) -> Reply | Deferred:
        if found.kind == "predict":
            return self.predict(self._spec(found), body, defer, executor)
        if found.kind == "explain":
            return self.explain(self._spec(found), body)
        return self._handlers[found.kind](found)

    @staticmethod
    def _spec(found: Route):
        return api.model_spec_for(found.model, found.version, found.label)

    def _status(self, found: Route) -> Reply:
        return self.json(
            api.as_json(api.status(self.manager, api.status_request(self._spec(found))))
        )

    def _metadata(self, found: Route) -> Reply:
        request = api.metadata_request(self._spec(found))
        return self.json(api.as_json(api.metadata(self.manager, request)))

    def predict(
        self, spec, body: bytes, defer: bool, executor: Executor | None = None
    ) -> Reply | Deferred:
        servable = api.find(self.manager, spec)  # no such model or version: 404, body unread
        columnar, instances, signature_name = protocol.parse_predict(body)
        name, arrays = protocol.request_inputs(instances, signature_name)
        render = lambda outputs: Reply(
            200, list(_JSON), protocol.answer(columnar, outputs, len(instances))
        )
        if not defer:
            return render(servable.predict(name, arrays))
        future = servable.submit(name, arrays, executor)
        if future.done():
            return self._settled(future, render)
        return Deferred(future, lambda done: self._settled(done, render))

    def explain(self, spec, body: bytes) -> Reply:
        """The article's backward pass of each instance (``explain.py``). Encoded images are
        read by serving_images first, so the explanation is of the 28x28 the model saw."""
        servable = api.find(self.manager, spec)
        if contract.SERVING_EXPLAIN not in servable.signatures:
            raise ServingError(
                "FAILED_PRECONDITION",
                f"version {servable.version} has no {contract.SERVING_EXPLAIN} signature: "
                "export it again with this mnist-convnet to explain it",
            )
        instances, label, rate = protocol.parse_explain(body)
        name, arrays = protocol.request_inputs(instances, None)
        if name == contract.SERVING_IMAGES:
            pixels = servable.predict(name, arrays)["image"]  # the 28x28 the model read
        else:
            (pixels,) = arrays.values()
        checked = inputs.explain_pixels(pixels, label, rate)
        outputs = servable.predict(contract.SERVING_EXPLAIN, checked)
        images = pixels.reshape(-1, contract.SIZE, contract.SIZE).astype(np.uint8)  # checked above
        return Reply(200, list(_JSON), protocol.explanations(outputs, images, rate))

    def _settled(self, future: Future, render: Callable[[Any], Reply]) -> Reply:
        try:
            return render(future.result())
        except ServingError as error:
            return self._refusal(error)
        except Exception as error:  # a bug of ours, in a batch or an executor's thread
            logging.exception("error serving a prediction")
            return self.error(500, f"internal error: {type(error).__name__}")

    def _page(self, found: Route) -> Reply:
        """The draw-a-digit page (``static.py``), made once."""
        if self._page_answer is None:
            self._page_answer = static.page(self.manager.names[0])
        return self._file(self._page_answer)

    def _device_file(self, found: Route) -> Reply:
        """The latest version's reader.tflite or trainable.tflite, for the page's device."""
        latest = self.manager.servable(self.manager.names[0]).path
        return self._file(static.device_file(latest, found.path.lstrip("/")))

    def _litert(self, found: Route) -> Reply:
        return self._file(static.litert(found.path))

    @staticmethod
    def _file(answer: static.Answer) -> Reply:
        content_type, body = answer
        return Reply(200, [("Content-Type", content_type)], body)

    def _metrics(self, found: Route) -> Reply:
        exposition = self.manager.metrics.exposition()
        return Reply(200, [("Content-Type", "text/plain; version=0.0.4")], exposition)

    # --- answers ------------------------------------------------------------------------

    @staticmethod
    def json(payload: Any, status: int = 200) -> Reply:
        return Reply(status, list(_JSON), json.dumps(payload).encode())

    def error(self, status: int, message: str) -> Reply:
        return self.json({"error": message}, status)

    def too_large(self) -> Reply:
        """413 for a body over the limit, WSGI's and ASGI's alike."""
        return self.error(413, f"request body larger than {self.max_body_bytes} bytes")

    def _refusal(self, error: ServingError) -> Reply:
        reply = self.error(error.status, str(error))
        reply.headers.extend(error.headers)
        reply.code = error.code
        return reply

    def _preflight(self, headers: dict[str, str]) -> Reply:
        """CORS preflight, as TF Serving answers it: fine if it comes from a web origin."""
        origin = {k.lower(): v for k, v in headers.items()}.get("origin", "")
        if re.search(r"https?://", origin):
            return Reply(200, [], b"")
        return self.error(400, "Origin header is missing in CORS preflight")

    def _record(self, found: Route | None, started: float, reply: Reply) -> Reply:
        """The request count and latency of a model endpoint, as TF Serving's REST handler
        records them: ``API`` is the URL's verb, empty for status and metadata."""
        if found is not None and found.kind in ("status", "metadata", *_POSTS):
            code = reply.code if reply.status < 500 else "INTERNAL"
            seconds = time.monotonic() - started
            api = found.kind if found.kind in _POSTS else ""
            self.manager.metrics.request(found.model, api, "REST", code, seconds)
        return reply

    def _finish(self, reply: Reply) -> Reply:
        if self.cors:
            reply.headers.extend(CORS_HEADERS)
        reply.headers.append(("Content-Length", str(len(reply.body))))
        return reply

    def close(self) -> None:
        for close in self.closers:
            close()
        self.manager.close()


_JSON = (("Content-Type", "application/json"),)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def for_folder(
    base_dir: str | Path,
    name: str = "mnist",
    batching: BatchingOptions | None = None,
    **options: Any,
) -> RestApi:
    """The REST API of one model's base folder (its latest version), for scripts and tests;
    ``mnist-convnet serve`` builds it from all its flags (``server.build``)."""
    manager = ModelManager([ModelConfig(name, Path(base_dir))], batching)
    return RestApi(manager, **options)
