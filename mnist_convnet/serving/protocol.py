"""TF Serving's REST JSON, to arrays and back: no TensorFlow, no HTTP.

A ``:predict`` body is ``{"instances": [...]}`` (row form) or ``{"inputs": ...}``
(columnar), with an optional ``"signature_name"``. An instance is a 28x28 (or 28x28x1)
nested list of integer pixels 0-255, white digit on black, or an encoded image as
``{"b64": "<base64 PNG/JPEG/GIF/BMP>"}``; either may be named by its input
(``{"pixels": ...}``, ``{"images": ...}``), as TF Serving allows. Without a
``signature_name`` the instances' form decides: pixels go to ``serving_default``, b64
images to ``serving_images``.

``request_inputs`` turns the instances into the signature's named input: JSON's grammar
and the number of instances are checked here, before anything is decoded; the values
(pixel ranges, :explain's label and step size) in ``inputs.py``, once, as gRPC's are.
``answer`` writes TF Serving's ``{"predictions": [...]}`` or ``{"outputs": {...}}``.

``:explain`` (ours) takes the same instances with an optional ``"label"`` and
``"learning_rate"`` (``parse_explain``) and answers ``{"explanations": [...]}``
(``explanations``): serving_explain's arrays, one object per instance.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import orjson

from mnist_convnet import contract
from mnist_convnet.serving.inputs import MAX_EXPLANATIONS, MAX_INSTANCES
from mnist_convnet.serving.status import invalid


def _reject_constant(name: str) -> None:
    raise invalid(f"JSON may not contain {name}")


def _json_object(body: bytes, what: str) -> dict:
    """The body as a JSON object. orjson reads a 28x28 instance several times faster than
    ``json`` (where a request's time goes: docs/serving.md); what it refuses is read again
    by ``json``, which takes what orjson does not (integers past 64 bits, UTF-16, a BOM) and
    says precisely why it refuses the rest, so the answers are ``json``'s either way."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = _strict_json(body)
    if not isinstance(payload, dict):
        raise invalid(f"body must be a JSON object with {what}")
    return payload


def _strict_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise invalid("body is not valid JSON: nested too deeply") from None


def parse_predict(body: bytes) -> tuple[bool, list, str | None]:
    """A ``:predict`` body checked: ``(columnar, instances, signature_name)``, each instance
    taken out of TF Serving's named-input form. ``ServingError`` says why not."""
    payload = _json_object(body, '"instances" or "inputs"')
    keys = set(payload) - {"signature_name"}
    if keys not in ({"instances"}, {"inputs"}):
        raise invalid('body must have exactly one of "instances" or "inputs"')
    signature_name = payload.get("signature_name")
    if signature_name is not None and signature_name not in contract.SIGNATURES:
        raise invalid(
            f"unknown signature_name {signature_name!r}; one of {', '.join(contract.SIGNATURES)}"
        )
    columnar = "inputs" in payload
    batch = payload["inputs"] if columnar else payload["instances"]
    batch = _unwrap(batch) if columnar else batch
    if columnar and (_b64(batch) is not None or not isinstance(batch, list)):
        batch = [batch]
    if not isinstance(batch, list) or not batch:
        raise invalid("instances must be a non-empty list")
    if len(batch) > MAX_INSTANCES:
        raise invalid(f"at most {MAX_INSTANCES} instances per request")
    return columnar, [_unwrap(i) for i in batch], signature_name


def parse_explain(body: bytes) -> tuple[list, int, float]:
    """An ``:explain`` body checked: ``(instances, label, learning_rate)``. The instances
    are ``:predict``'s (pixels or ``{"b64": ...}``), at most MAX_EXPLANATIONS; ``label``
    0-9 is the class to explain (default: the predicted one, ``contract.PREDICTED``)."""
    payload = _json_object(body, '"instances"')
    unknown = set(payload) - {"instances", "label", "learning_rate"}
    if unknown or "instances" not in payload:
        raise invalid('an :explain body has "instances" and may have "label", "learning_rate"')
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise invalid("instances must be a non-empty list")
    if len(instances) > MAX_EXPLANATIONS:
        raise invalid(f"at most {MAX_EXPLANATIONS} instances per explanation")
    label = payload.get("label", contract.PREDICTED)
    if type(label) is not int:  # its range: inputs.explain_pixels
        raise invalid("label must be a digit 0-9")
    rate = payload.get("learning_rate", contract.DEFAULT_LEARNING_RATE)
    if type(rate) not in (int, float):
        raise invalid(f"learning_rate must be a number from 0 to {contract.MAX_LEARNING_RATE:g}")
    return [_unwrap(i) for i in instances], label, float(rate)


def request_inputs(
    instances: list, signature_name: str | None
) -> tuple[str, dict[str, np.ndarray]]:
    """The signature the instances go to, and its input: uint8 or float32 rows for the
    pixel signatures, an object array of encoded bytes for the image ones."""
    encoded = [_b64(i) for i in instances]
    images = all(e is not None for e in encoded)
    if not images and any(e is not None for e in encoded):
        raise invalid("mix of b64 images and pixel arrays in one request")
    name = signature_name or (contract.SERVING_IMAGES if images else contract.SERVING_DEFAULT)
    if (name in contract.IMAGE_SIGNATURES) != images:
        wanted = '{"b64": ...} images' if name in contract.IMAGE_SIGNATURES else "pixel arrays"
        raise invalid(f"{name} takes {wanted}")
    if images:
        return name, {contract.INPUTS[name]: np.array(encoded, dtype=object)}
    rows = np.stack([pixels(i) for i in instances])
    return name, {contract.INPUTS[name]: rows}


def pixels(instance: Any) -> np.ndarray:
    """One instance as a numeric array [28, 28, 1] (its values: ``inputs.pixel_values``)."""
    try:
        array = np.asarray(instance)
    except ValueError:
        raise invalid("ragged instance: every row must have 28 pixels") from None
    except RecursionError:
        raise invalid("instance nested too deeply") from None
    if array.dtype == object or array.dtype.kind not in "iuf":
        raise invalid("pixels must be numbers (integers 0-255) in nested lists")
    if array.shape == (28, 28):
        array = array[..., np.newaxis]
    if array.shape != (28, 28, 1):
        raise invalid(f"an instance must be 28x28 or 28x28x1 pixels, got shape {list(array.shape)}")
    return array


def _b64(instance: Any) -> bytes | None:
    """The decoded bytes of a ``{"b64": ...}`` instance; None if it is not one."""
    if isinstance(instance, dict) and set(instance) == {"b64"}:
        if not isinstance(instance["b64"], str):
            raise invalid('"b64" must be a base64 string')
        try:
            return base64.b64decode(instance["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid('"b64" is not valid base64') from None
    return None


def _unwrap(instance: Any) -> Any:
    """TF Serving lets an instance name its input: {"pixels": ...} or {"images": ...}."""
    if isinstance(instance, dict) and len(instance) == 1:
        (key,) = instance
        if key in set(contract.INPUTS.values()):
            return instance[key]
    return instance


def answer(columnar: bool, outputs: dict[str, np.ndarray], count: int) -> bytes:
    """TF Serving's JSON answer: ``{"outputs": ...}`` (columnar), or one prediction for each
    of the ``count`` instances. Byte strings (``serving_number``'s ``number``) as text."""
    outputs = {name: _plain(value) for name, value in outputs.items()}
    if columnar:
        return json.dumps({"outputs": {k: v.tolist() for k, v in outputs.items()}}).encode()
    predictions = [{k: v[i].tolist() for k, v in outputs.items()} for i in range(count)]
    return json.dumps({"predictions": predictions}).encode()


def explanations(outputs: dict[str, np.ndarray], images: np.ndarray, learning_rate: float) -> bytes:
    """``{"explanations": [...]}``: serving_explain's outputs, one object per image, with
    its layers in order (``explain.py`` names the arrays) and the uint8 ``image`` explained.

    ~110,000 numbers a digit: orjson writes each float32 in its shortest exact form, over
    an order of magnitude faster than ``json`` on Python floats (``bench/explain.py``)."""
    answers = []
    for b, label in enumerate(outputs["label"]):
        names, kinds = (_plain(outputs[k][b]) for k in ("layer_names", "layer_kinds"))
        layers = []
        for i, (name, kind) in enumerate(zip(names, kinds)):
            layer = {"name": str(name), "kind": str(kind)}
            for what in ("output", "dL_doutput", "dL_dkernel", "dL_dbias"):
                if f"layer{i}/{what}" in outputs:
                    layer[what] = outputs[f"layer{i}/{what}"][b]
            layers.append(layer)
        answer = {"label": int(label), "learning_rate": learning_rate, "image": images[b]}
        for what in ("loss", "loss_after_step", "probabilities", "dL_dz", "dL_dx"):
            answer[what] = outputs[what][b]
        answer["layers"] = layers
        answers.append(answer)
    return orjson.dumps({"explanations": answers}, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(array: np.ndarray) -> np.ndarray:
    return np.char.decode(array.astype(bytes), "utf-8") if array.dtype == object else array
