"""The draw-a-digit page and the files it loads, answered beside TF Serving's API.

    page        static/index.html, told the model's name, the finder's reasons, the
                thresholds of a hard reading and how trainable.tflite is taught (read
                once, then kept by the caller)
    device_file the latest version's reader.tflite or trainable.tflite, which the page
                runs on the device
    litert      LiteRT.js, from the npm install beside the page (static/package-lock.json
                pins it): only the listed folders, plain file names

Each returns (content type, bytes) or raises NOT_FOUND with what to run to have it.
"""

from __future__ import annotations

import html
import importlib.resources
import json
import re
from pathlib import Path

from mnist_convnet import contract
from mnist_convnet.export import tflite, trainable
from mnist_convnet.serving.status import not_found

# The URL folder -> the folder of the install it serves, and what its files are.
LITERT = {
    "core": "@litertjs/core/dist",
    "wasm": "@litertjs/core/wasm",
    "wasm-utils": "@litertjs/wasm-utils/dist",
}
_LITERT_FILE = re.compile(r"^/litert/(?P<folder>[a-z-]+)/(?P<file>[A-Za-z0-9_]+\.(?:js|wasm))$")
_MIMETYPES = {".js": "text/javascript", ".wasm": "application/wasm"}
Answer = tuple[str, bytes]
DEVICE_FILES = ("reader.tflite", trainable.FILE)


def page(model_name: str) -> Answer:
    """The page, told which model name to ask."""
    text = importlib.resources.files("mnist_convnet").joinpath("static/index.html").read_text()
    hard = {"probability": contract.HARD_PROBABILITY, "margin": contract.HARD_MARGIN}
    teach = {"empty": trainable.EMPTY, "learning_rate": trainable.LEARNING_RATE}
    fields = {
        "{{MODEL_NAME}}": model_name,
        "{{HARD}}": json.dumps(hard),
        "{{TEACH}}": json.dumps(teach),
        "{{REASONS}}": json.dumps(contract.REASONS),
    }
    for field, value in fields.items():
        text = text.replace(field, html.escape(value, quote=True))
    return "text/html; charset=utf-8", text.encode()


def device_file(version_dir: Path, name: str) -> Answer:
    """A version's reader.tflite or trainable.tflite, as ``make export-tflite`` wrote it."""
    if name not in DEVICE_FILES:
        raise not_found(f"no such file: /{name}")
    path = tflite.output_dir(version_dir) / name
    if not path.is_file():
        raise not_found(f"no {path}: run `make export-tflite` to read on the device")
    return "application/octet-stream", path.read_bytes()


def litert(path: str) -> Answer:
    """A file of the LiteRT.js install, by its URL path."""
    match = _LITERT_FILE.match(path)
    if not match or match["folder"] not in LITERT:
        raise not_found(f"no such file: {path}")
    modules = importlib.resources.files("mnist_convnet").joinpath("static/node_modules")
    file = Path(str(modules)) / LITERT[match["folder"]] / match["file"]
    if not file.is_file():
        raise not_found(f"{path} is not installed: run `make install` (npm ci)")
    return _MIMETYPES[file.suffix], file.read_bytes()
