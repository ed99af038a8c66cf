"""A local REST server with TF Serving's API shape, for development and the demo page.

    GET  /                                           the draw-a-digit page (static/index.html)
    GET  /reader.tflite                              the latest version's reader.tflite, which
                                                     the page runs on the device (LiteRT.js)
    GET  /litert/{core,wasm-utils,wasm}/<file>       LiteRT.js, from the npm install that
                                                     `make install` makes (static/package.json)
    GET  /v1/models/<name>[/versions/<N>]            status
    GET  /v1/models/<name>[/versions/<N>]/metadata   signatures
    POST /v1/models/<name>[/versions/<N>]:predict    {"instances": [...]} or {"inputs": ...}

An instance is a 28x28 (or 28x28x1) nested list of integer pixels 0-255, white digit on
black, or an encoded image as ``{"b64": "<base64 PNG/JPEG/GIF/BMP>"}`` — a photo, a scan,
a canvas export, in which the SavedModel itself finds the digit. ``"signature_name"``
picks the signature as in TF Serving (``serving_number`` reads a row of digits,
``serving_float`` takes floats in [0, 1]); without it, the instances' form decides
(pixels: ``serving_default``, b64: ``serving_images``). Answers follow TF Serving:
``{"predictions": [{"probabilities": [...], "classes": d, ...}, ...]}`` for instances,
``{"outputs": {...}}`` for inputs.

With ``batching`` (``mnist-convnet serve --enable_batching``, TF Serving's flag and
parameter names; see ``batching``), concurrent pixel requests to ``serving_default`` and
``serving_float`` are merged into one model call, and a full queue answers 503 at once.

At most MAX_DECODES image requests run the digit-finder at once (more would only queue
for the two cores and hold their decoded images in memory); the rest wait up to
DECODE_WAIT_SECONDS, then get 503. Image headers promising more than 25 Mpixels are
refused by the graph before decoding (400).

Anything malformed gets HTTP 4xx with ``{"error": "..."}`` and the server keeps serving.
This is not a production server: for that, point TF Serving at the same folder.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import importlib.resources
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from mnist_convnet import contract, digit_finder, export, inference, tflite
from mnist_convnet.batching import Batcher, BatchingOptions, QueueFull

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_INSTANCES = 1024
MAX_DECODES = 2
DECODE_WAIT_SECONDS = 10.0
IMAGE_SIGNATURES = ("serving_images", "serving_number")
SIGNATURES = ("serving_default", "serving_float", *IMAGE_SIGNATURES)
# LiteRT.js as npm installs it beside the page (static/package-lock.json pins it): the
# URL folder -> the folder of the install it serves, and what its files are.
LITERT = {
    "core": "@litertjs/core/dist",
    "wasm": "@litertjs/core/wasm",
    "wasm-utils": "@litertjs/wasm-utils/dist",
}
_LITERT_FILE = re.compile(r"^/litert/(?P<folder>[a-z-]+)/(?P<file>[A-Za-z0-9_]+\.(?:js|wasm))$")
_MIMETYPES = {".js": "text/javascript", ".wasm": "application/wasm"}
_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<verb>/metadata|:predict)?$"
)


class BadRequest(Exception):
    """A request we understood well enough to refuse: (HTTP status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _reject_constant(name: str) -> None:
    raise BadRequest(400, f"JSON may not contain {name}")


def _pixels(instance: Any, floats: bool = False) -> np.ndarray:
    """One instance as uint8 [28, 28, 1] (float32 in [0, 1] if ``floats``), or BadRequest."""
    try:
        array = np.asarray(instance)
    except ValueError:
        raise BadRequest(400, "ragged instance: every row must have 28 pixels") from None
    except RecursionError:
        raise BadRequest(400, "instance nested too deeply") from None
    if array.dtype == object or array.dtype.kind not in "iuf":
        raise BadRequest(400, "pixels must be numbers (integers 0-255) in nested lists")
    if array.shape == (28, 28):
        array = array[..., np.newaxis]
    if array.shape != (28, 28, 1):
        raise BadRequest(
            400, f"an instance must be 28x28 or 28x28x1 pixels, got shape {list(array.shape)}"
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise BadRequest(400, "pixels must be finite numbers")
    if floats:
        if array.min() < 0 or array.max() > 1:
            raise BadRequest(400, "serving_float takes numbers from 0 to 1")
        return array.astype(np.float32)
    if np.any(array != np.round(array)) or array.min() < 0 or array.max() > 255:
        raise BadRequest(400, "pixels must be integers from 0 to 255")
    return array.astype(np.uint8)


def _pixel_rows(instances: list, signature_name: str) -> np.ndarray:
    """The instances as one array of rows for a pixel signature (floats for serving_float)."""
    floats = signature_name == "serving_float"
    return np.stack([_pixels(i, floats=floats) for i in instances])


def _b64(instance: Any) -> bytes | None:
    """The decoded bytes of a ``{"b64": ...}`` instance; None if it is not one."""
    if isinstance(instance, dict) and set(instance) == {"b64"}:
        if not isinstance(instance["b64"], str):
            raise BadRequest(400, '"b64" must be a base64 string')
        try:
            return base64.b64decode(instance["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(400, '"b64" is not valid base64') from None
    return None


def _unwrap(instance: Any) -> Any:
    """TF Serving lets an instance name its input: {"pixels": ...} or {"images": ...}."""
    if isinstance(instance, dict) and len(instance) == 1:
        (key,) = instance
        if key in ("pixels", "images"):
            return instance[key]
    return instance


class ModelServer:
    """A WSGI application serving the versions under one SavedModel base folder."""

    def __init__(
        self,
        base_dir: str | Path,
        name: str = "mnist",
        max_body_bytes: int = MAX_BODY_BYTES,
        batching: BatchingOptions | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.name = name
        self.max_body_bytes = max_body_bytes
        self.batching = batching
        self._batchers: dict[tuple[int, str], Batcher] = {}
        self._loaded: dict[int, Any] = {}
        self._page: str | None = None
        self._lock = threading.Lock()
        self._decodes = threading.BoundedSemaphore(MAX_DECODES)
        self.latest = int(export.latest_version_dir(self.base_dir).name)
        self.model(self.latest)  # load now: fail at start-up, not at the first request

    def model(self, version: int):
        with self._lock:
            if version not in self._loaded:
                self._loaded[version] = inference.load_saved_model(self.base_dir / str(version))
            return self._loaded[version]

    # --- routing ---------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_body_bytes
        try:
            response = self.dispatch(request)
        except BadRequest as error:
            response = self.error(error.status, str(error))
        except RequestEntityTooLarge:
            response = self.error(413, f"request body larger than {self.max_body_bytes} bytes")
        except HTTPException as error:
            response = self.error(error.code or 400, error.description or error.name)
        except Exception as error:  # a bug of ours: say so in JSON, log it, keep serving
            logging.exception("error serving %s %s", request.method, request.path)
            response = self.error(500, f"internal error: {type(error).__name__}")
        return response(environ, start_response)

    @staticmethod
    def json(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload), status=status, mimetype="application/json")

    def error(self, status: int, message: str, **headers: str) -> Response:
        response = self.json({"error": message}, status)
        response.headers.update(headers)
        return response

    def dispatch(self, request: Request) -> Response:
        static = request.path in ("/", "/index.html", "/reader.tflite")
        if static or request.path.startswith("/litert/"):
            if request.method not in ("GET", "HEAD"):
                return self.error(405, "use GET for the page", Allow="GET, HEAD")
            if request.path == "/reader.tflite":
                return self.reader()
            return self.litert(request.path) if not static else self.page()
        match = _PATH.match(request.path)
        if not match:
            raise BadRequest(404, f"no such endpoint: {request.path}")
        if match["name"] != self.name:
            raise BadRequest(
                404, f"model {match['name']!r} not found (this server has {self.name!r})"
            )
        version = self.latest
        if match["version"] is not None:
            if not match["version"].isdigit():
                raise BadRequest(400, f"version must be a number, got {match['version']!r}")
            version = int(match["version"])
            if version not in export.versions(self.base_dir):
                raise BadRequest(404, f"version {version} of model {self.name!r} not found")
        verb = match["verb"]
        wanted = "POST" if verb == ":predict" else "GET"
        if request.method != wanted:
            return self.error(405, f"use {wanted} for this endpoint", Allow=wanted)
        if verb is None:
            return self.status(version)
        if verb == "/metadata":
            return self.metadata(version)
        return self.predict(request, version)

    # --- endpoints -------------------------------------------------------------------

    def page(self) -> Response:
        """The draw-a-digit page, told which model name to ask (read once, then kept)."""
        if self._page is None:
            text = (
                importlib.resources.files("mnist_convnet").joinpath("static/index.html").read_text()
            )
            text = text.replace("{{MODEL_NAME}}", html.escape(self.name, quote=True))
            reasons = html.escape(json.dumps(contract.REASONS), quote=True)
            self._page = text.replace("{{REASONS}}", reasons)
        return Response(self._page, mimetype="text/html")

    def reader(self) -> Response:
        """The latest version's reader.tflite, for the page's on-device mode."""
        path = tflite.output_dir(self.base_dir / str(self.latest)) / "reader.tflite"
        if not path.is_file():
            raise BadRequest(404, f"no {path}: run `make export-tflite` to read on the device")
        return Response(path.read_bytes(), mimetype="application/octet-stream")

    @staticmethod
    def litert(path: str) -> Response:
        """A file of the LiteRT.js install: only the listed folders, plain file names."""
        match = _LITERT_FILE.match(path)
        if not match or match["folder"] not in LITERT:
            raise BadRequest(404, f"no such file: {path}")
        modules = importlib.resources.files("mnist_convnet").joinpath("static/node_modules")
        file = Path(str(modules)) / LITERT[match["folder"]] / match["file"]
        if not file.is_file():
            raise BadRequest(404, f"{path} is not installed: run `make install` (npm ci)")
        return Response(file.read_bytes(), mimetype=_MIMETYPES[file.suffix])

    def status(self, version: int) -> Response:
        return self.json(
            {
                "model_version_status": [
                    {
                        "version": str(version),
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            }
        )

    def metadata(self, version: int) -> Response:
        signatures = {}
        for key, fn in self.model(version).signatures.items():
            _, inputs = fn.structured_input_signature
            signatures[key] = {
                "inputs": {n: _spec(s) for n, s in inputs.items()},
                "outputs": {n: _spec(s) for n, s in fn.structured_outputs.items()},
                "method_name": "tensorflow/serving/predict",
            }
        return self.json(
            {
                "model_spec": {"name": self.name, "signature_name": "", "version": str(version)},
                "metadata": {"signature_def": {"signature_def": signatures}},
            }
        )

    def predict(self, request: Request, version: int) -> Response:
        columnar, instances, signature_name = parse_predict(request.get_data(cache=False))
        outputs = self.run(version, instances, signature_name)
        return Response(answer(columnar, outputs, len(instances)), mimetype="application/json")

    def submit_batched(self, method: str, path: str, body: bytes) -> tuple[Future, Callable] | None:
        """For a well-formed pixel ``:predict`` of the latest version when batching is on:
        its rows queued for a batch, as ``(future of the outputs, outputs -> JSON body)``,
        so that an event loop can await the batch without a thread (``asgi.AsgiApp``).
        ``None`` for everything else — other requests, bad ones, a full queue: the WSGI app
        serves those, with the same checks and error answers."""
        if self.batching is None or method != "POST":
            return None
        match = _PATH.match(path)
        if not match or match["verb"] != ":predict" or match["version"] is not None:
            return None
        try:
            columnar, instances, signature_name = parse_predict(body)
            name = signature_name or "serving_default"
            if name not in ("serving_default", "serving_float") or match["name"] != self.name:
                return None
            if name not in self.model(self.latest).signatures:
                return None
            rows = _pixel_rows(instances, name)
        except BadRequest:
            return None
        if len(rows) > self.batching.max_batch_size:
            return None
        try:
            future = self._rows_function(self.latest, name).submit(rows)
        except QueueFull:
            return None
        return future, functools.partial(answer, columnar, count=len(rows))

    def run(
        self, version: int, instances: list, signature_name: str | None
    ) -> dict[str, np.ndarray]:
        """Runs the signature named (or the one the instances' form implies)."""
        loaded = self.model(version)
        encoded = [_b64(i) for i in instances]
        images = all(e is not None for e in encoded)
        if not images and any(e is not None for e in encoded):
            raise BadRequest(400, "mix of b64 images and pixel arrays in one request")
        name = signature_name or ("serving_images" if images else "serving_default")
        if (name in IMAGE_SIGNATURES) != images:
            wanted = '{"b64": ...} images' if name in IMAGE_SIGNATURES else "pixel arrays"
            raise BadRequest(400, f"{name} takes {wanted}")
        if name not in loaded.signatures:
            raise BadRequest(
                400, f"this model version has no signature {name!r} (exported by an older version)"
            )
        fn = loaded.signatures[name]
        try:
            if images:
                return _numpy(self._find(fn, tf.constant(encoded)))
            return self._rows_function(version, name)(_pixel_rows(instances, name))
        except tf.errors.InvalidArgumentError as error:
            raise BadRequest(
                400, f"the model rejected the input: {digit_finder.error_message(error)}"
            ) from None
        except QueueFull:
            raise BadRequest(503, "the batching queue is full; try again") from None

    def _rows_function(self, version: int, name: str):
        """rows -> outputs for a pixel signature: through its batcher when batching is on."""
        fn = self.model(version).signatures[name]
        input_name = "images" if name == "serving_float" else "pixels"
        call = lambda rows: _numpy(fn(**{input_name: tf.constant(rows)}))
        if self.batching is None:
            return call
        with self._lock:
            if (version, name) not in self._batchers:
                self._batchers[version, name] = Batcher(call, self.batching)
            return self._batchers[version, name]

    def close(self) -> None:
        """Stops the batch threads (after the requests they hold)."""
        for batcher in self._batchers.values():
            batcher.close()

    def _find(self, fn, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Runs an image signature once a decode slot is free (503 if none frees up)."""
        if not self._decodes.acquire(timeout=DECODE_WAIT_SECONDS):
            raise BadRequest(503, "too many images being read at once; try again")
        try:
            return fn(images=images)
        finally:
            self._decodes.release()


def parse_predict(body: bytes) -> tuple[bool, list, str | None]:
    """A ``:predict`` body checked: ``(columnar, instances, signature_name)``, each instance
    taken out of TF Serving's named-input form (``{"pixels": ...}``). ``BadRequest`` says
    why not."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(400, f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(400, "body is not valid JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, 'body must be a JSON object with "instances" or "inputs"')
    keys = set(payload) - {"signature_name"}
    if keys not in ({"instances"}, {"inputs"}):
        raise BadRequest(400, 'body must have exactly one of "instances" or "inputs"')
    signature_name = payload.get("signature_name")
    if signature_name is not None and signature_name not in SIGNATURES:
        raise BadRequest(
            400, f"unknown signature_name {signature_name!r}; one of {', '.join(SIGNATURES)}"
        )
    columnar = "inputs" in payload
    batch = payload["inputs"] if columnar else payload["instances"]
    batch = _unwrap(batch) if columnar else batch
    if columnar and (_b64(batch) is not None or not isinstance(batch, list)):
        batch = [batch]
    if not isinstance(batch, list) or not batch:
        raise BadRequest(400, "instances must be a non-empty list")
    if len(batch) > MAX_INSTANCES:
        raise BadRequest(400, f"at most {MAX_INSTANCES} instances per request")
    return columnar, [_unwrap(i) for i in batch], signature_name


def answer(columnar: bool, outputs: dict[str, np.ndarray], count: int) -> bytes:
    """TF Serving's JSON answer: ``{"outputs": ...}`` (columnar), or one prediction for each
    of the ``count`` instances."""
    if columnar:
        return json.dumps({"outputs": {k: v.tolist() for k, v in outputs.items()}}).encode()
    predictions = [{k: v[i].tolist() for k, v in outputs.items()} for i in range(count)]
    return json.dumps({"predictions": predictions}).encode()


def _numpy(outputs: dict[str, tf.Tensor]) -> dict[str, np.ndarray]:
    return {name: _plain(value.numpy()) for name, value in outputs.items()}


def _plain(array: np.ndarray) -> np.ndarray:
    """Byte strings (serving_number's ``number``) as str, so they go into JSON."""
    return np.char.decode(array.astype(bytes), "utf-8") if array.dtype == object else array


def _spec(spec: tf.TensorSpec) -> dict:
    shape = None if spec.shape.rank is None else [-1 if d is None else d for d in spec.shape]
    return {"dtype": spec.dtype.name, "shape": shape}
