"""serving/grpc_api.py: TF Serving's gRPC API through the official client stubs.

Every call goes through ``prediction_service_pb2_grpc.PredictionServiceStub`` and
``model_service_pb2_grpc.ModelServiceStub`` from PyPI's tensorflow-serving-api, on
loopback, against the same manager a REST server answers from: the answers must be
REST's, and the refusals TF Serving's status codes.
"""

from __future__ import annotations

import base64
import io
import threading

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from mnist_convnet.serving import configs, core, grpc_api, rest
from mnist_convnet.serving.batching import BatchingOptions
from testbed.servers import serve_in_thread


@pytest.fixture(scope="module")
def both(exported):
    """(gRPC channel, REST model URL, manager) over one manager, batching on."""
    manager = core.ModelManager(
        [configs.ModelConfig("mnist", exported.parent, labels={"stable": 1})],
        BatchingOptions(max_batch_size=32),
    )
    api = rest.RestApi(manager)
    server = grpc_api.start(manager, "127.0.0.1", 0, threads=8, max_message_bytes=1 << 20)
    with serve_in_thread(api) as url, grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel, url + "/v1/models/mnist", manager
    server.stop(grace=1)
    manager.close()


def _stub(both):
    return prediction_service_pb2_grpc.PredictionServiceStub(both[0])


def _request(inputs: dict, signature: str = "", **spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop("name", "mnist")
    request.model_spec.signature_name = signature
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(255 - pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.details()  # always a sentence
    return raised.value.code()


def test_pixels_get_rests_answers_in_typed_fields(both, test_digits):
    pixels, labels = test_digits
    response = _stub(both).Predict(_request({"pixels": pixels[:5]}), timeout=60)
    assert response.model_spec.name == "mnist" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    probabilities = response.outputs["probabilities"]
    assert probabilities.dtype == tf.float32.as_datatype_enum and not probabilities.tensor_content
    assert [d.size for d in probabilities.tensor_shape.dim] == [5, 10]
    assert list(response.outputs["classes"].int64_val) == labels[:5].tolist()
    by_rest = requests.post(
        both[1] + ":predict", json={"instances": pixels[:5].tolist()}, timeout=60
    )
    np.testing.assert_allclose(
        tf.make_ndarray(probabilities),
        [p["probabilities"] for p in by_rest.json()["predictions"]],
        atol=1e-6,
    )


def test_b64_images_and_numbers_in_string_val(both, test_digits):
    pixels, labels = test_digits
    images = np.array([_png(p) for p in pixels[:3]], dtype=object)
    response = _stub(both).Predict(_request({"images": images}, "serving_images"), timeout=60)
    by_rest = requests.post(
        both[1] + ":predict",
        json={"instances": [{"b64": base64.b64encode(i).decode()} for i in images]},
        timeout=60,
    ).json()["predictions"]
    assert list(response.outputs["classes"].int64_val) == [p["classes"] for p in by_rest]
    np.testing.assert_array_equal(
        tf.make_ndarray(response.outputs["image"]), [p["image"] for p in by_rest]
    )
    row = np.concatenate([255 - pixels[i] for i in range(3)], axis=1)
    buffer = io.BytesIO()
    Image.fromarray(np.pad(row, 20, constant_values=255)).save(buffer, format="PNG")
    number = _stub(both).Predict(
        _request({"images": np.array([buffer.getvalue()], dtype=object)}, "serving_number"),
        timeout=60,
    )
    assert number.outputs["number"].string_val[0] == "".join(map(str, labels[:3])).encode()


def test_output_filter_version_and_label(both, test_digits):
    pixels, _ = test_digits
    request = _request({"pixels": pixels[:2]}, version=1)
    request.output_filter.append("classes")
    response = _stub(both).Predict(request, timeout=60)
    assert list(response.outputs) == ["classes"]
    by_label = _stub(both).Predict(_request({"pixels": pixels[:2]}, label="stable"), timeout=60)
    assert by_label.model_spec.version.value == 1
    floats = (pixels[:2] / 255.0).astype(np.float32)[..., None]
    as_floats = _stub(both).Predict(_request({"images": floats}, "serving_float"), timeout=60)
    np.testing.assert_allclose(
        tf.make_ndarray(as_floats.outputs["probabilities"]),
        tf.make_ndarray(by_label.outputs["probabilities"]),
        atol=1e-6,
    )


def test_metadata_packs_the_signature_defs_and_status_lists_versions(both):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "mnist"
    response = _stub(both).GetModelMetadata(request, timeout=60)
    assert response.model_spec.version.value == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {
        "serving_default",
        "serving_images",
        "serving_number",
        "serving_float",
        "serving_explain",
    }
    assert (
        signatures.signature_def["serving_default"].inputs["pixels"].dtype
        == tf.uint8.as_datatype_enum
    )
    status = model_service_pb2_grpc.ModelServiceStub(both[0]).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "mnist"}), timeout=60
    )
    (version,) = status.model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


def test_tf_servings_error_codes(both, test_digits):
    pixels, _ = test_digits
    stub = _stub(both)
    one = {"pixels": pixels[:1]}
    codes = grpc.StatusCode
    assert _code(lambda: stub.Predict(_request(one, name="other"), timeout=60)) == codes.NOT_FOUND
    assert _code(lambda: stub.Predict(_request(one, version=9), timeout=60)) == codes.NOT_FOUND
    assert _code(lambda: stub.Predict(_request(one, label="canary"), timeout=60)) == codes.NOT_FOUND
    bad = [
        _request({"pixels": np.full((1, 28, 28), 300, np.int32)}),  # out of range
        _request({"pixels": np.zeros((1, 27, 28), np.uint8)}),  # wrong shape
        _request({"nope": pixels[:1]}),  # not the signature's input
        _request({"images": np.array([b"not an image"], dtype=object)}, "serving_images"),
        _request({"images": np.zeros((1, 28, 28, 1), np.float32) + 2}, "serving_float"),
    ]
    for request in bad:
        assert _code(lambda r=request: stub.Predict(r, timeout=60)) == codes.INVALID_ARGUMENT
    huge = _request({"pixels": pixels[:1]})
    huge.inputs["pixels"].tensor_shape.dim[0].size = 10**9  # a shape promising 784 GB
    assert _code(lambda: stub.Predict(huge, timeout=60)) == codes.INVALID_ARGUMENT
    filtered = _request(one)
    filtered.output_filter.append("logits")
    assert _code(lambda: stub.Predict(filtered, timeout=60)) == codes.INVALID_ARGUMENT
    unknown = _request(one, "serving_nope")
    assert _code(lambda: stub.Predict(unknown, timeout=60)) == codes.FAILED_PRECONDITION
    classify = classification_pb2.ClassificationRequest()
    assert _code(lambda: stub.Classify(classify, timeout=60)) == codes.UNIMPLEMENTED
    big = _request({"pixels": np.zeros((1400, 28, 28), np.uint8)})  # > 1 MB message
    assert _code(lambda: stub.Predict(big, timeout=60)) == codes.RESOURCE_EXHAUSTED
    assert stub.Predict(_request(one), timeout=60).outputs["classes"].int64_val  # still serving


def test_a_full_batch_queue_is_resource_exhausted(exported, test_digits):
    options = BatchingOptions(max_batch_size=1, num_batch_threads=1, max_enqueued_batches=1)
    manager = core.ModelManager([configs.ModelConfig("mnist", exported.parent)], options)
    batcher = manager.servable("mnist")._batcher("serving_default")
    release, started, real = threading.Event(), threading.Event(), batcher.fn
    batcher.fn = lambda rows: (started.set(), release.wait(30), real(rows))[2]
    server = grpc_api.start(manager, "127.0.0.1", 0, threads=4, max_message_bytes=1 << 20)
    one = _request({"pixels": test_digits[0][:1]})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            running = stub.Predict.future(one, timeout=60)
            started.wait(30)
            queued = stub.Predict.future(one, timeout=60)
            while batcher._queued_rows < 1:
                threading.Event().wait(0.005)
            assert (
                _code(lambda: stub.Predict(one, timeout=60)) == grpc.StatusCode.RESOURCE_EXHAUSTED
            )
            release.set()
            assert running.result().outputs["classes"] and queued.result().outputs["classes"]
    finally:
        release.set()
        server.stop(grace=1)
        manager.close()


def test_serving_explain_through_predict_gives_rests_explanation(both, test_digits):
    """A TF Serving client reaches the article's backward pass as a Predict signature."""
    pixels, truth = test_digits
    label = int((truth[3] + 2) % 10)
    inputs = {
        "images": pixels[3:4, ..., None].astype(np.float32) / 255,
        "label": np.array([label], np.int64),
        "learning_rate": np.array([0.01], np.float32),
    }
    response = _stub(both).Predict(_request(inputs, "serving_explain"), timeout=60)
    by_rest = requests.post(
        both[1] + ":explain", json={"instances": [pixels[3].tolist()], "label": label}, timeout=60
    ).json()["explanations"][0]
    assert list(response.outputs["label"].int64_val) == [label]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["dL_dx"])[0], by_rest["dL_dx"])
    kernel = tf.make_ndarray(response.outputs["layer2/dL_dkernel"])[0]
    np.testing.assert_allclose(kernel, by_rest["layers"][2]["dL_dkernel"])
    bad = dict(inputs, label=np.array([11], np.int64))
    assert _code(lambda: _stub(both).Predict(_request(bad, "serving_explain"), timeout=60)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    many = {k: np.repeat(v, 9, axis=0) for k, v in inputs.items()}
    assert _code(lambda: _stub(both).Predict(_request(many, "serving_explain"), timeout=60)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_an_unbatched_model_call_runs_in_the_pool_not_on_grpcs_loop(exported, test_digits):
    """Without batching a pixel Predict's model call goes to the pool: on the loop it would
    hold every other call until it returned."""
    manager = core.ModelManager([configs.ModelConfig("mnist", exported.parent)])
    servable = manager.servable("mnist")
    real, ran_in = servable._call, []
    servable._call = lambda *a: ran_in.append(threading.current_thread().name) or real(*a)
    server = grpc_api.start(manager, "127.0.0.1", 0, threads=2, max_message_bytes=1 << 20)
    pixels, labels = test_digits
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(_request({"pixels": pixels[:3]}), timeout=30)
    finally:
        server.stop(grace=1)
        manager.close()
    assert tf.make_ndarray(response.outputs["classes"]).tolist() == labels[:3].tolist()
    assert len(ran_in) == 1 and ran_in[0].startswith("grpc_"), ran_in
