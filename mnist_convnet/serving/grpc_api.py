"""TF Serving's gRPC API (its port 8500) on the official ``tensorflow-serving-api`` stubs.

The servicers subclass the base classes generated in ``tensorflow-serving-api``, so a
client that talks to TF Serving talks to this server unchanged:

    channel = grpc.insecure_channel("127.0.0.1:8500")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(digits))  # uint8 [N, 28, 28]
    stub.Predict(request).outputs["probabilities"]

``Predict``, ``GetModelMetadata`` and ``GetModelStatus`` answer from ``api.py``, the
same code REST prints; refusals carry TF Serving's status codes (NOT_FOUND for a model,
version or label, INVALID_ARGUMENT for bad inputs, FAILED_PRECONDITION for an unknown
signature, RESOURCE_EXHAUSTED when the batch queue or the image readers are full).
``Classify``, ``Regress``, ``MultiInference`` and ``HandleReloadConfigRequest`` answer
UNIMPLEMENTED with a sentence. Messages up to ``max_message_bytes`` are received (gRPC's
own limit, RESOURCE_EXHAUSTED beyond); answers may be of any size, as TF Serving's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures

import grpc
from absl import logging
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from mnist_convnet.errors import UserError
from mnist_convnet.serving import api
from mnist_convnet.serving.models import ModelManager
from mnist_convnet.serving.status import ServingError

DEFAULT_PORT = 8500  # TF Serving's gRPC port


def _answer(manager: ModelManager, api_name: str, build: Callable, request, context):
    """Runs ``build``, recording the request; a refusal becomes its gRPC status."""
    started = time.monotonic()
    model = request.model_spec.name if request.HasField("model_spec") else ""
    try:
        response = build(manager, request)
    except ServingError as error:
        manager.metrics.request(model, api_name, "GRPC", error.code, 0.0)
        context.abort(getattr(grpc.StatusCode, error.code), str(error))
    except Exception as error:  # a bug of ours: INTERNAL, logged, and keep serving
        logging.exception("error serving gRPC %s", api_name)
        manager.metrics.request(model, api_name, "GRPC", "INTERNAL", 0.0)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")
    manager.metrics.request(model, api_name, "GRPC", "OK", time.monotonic() - started)
    return response


def _unimplemented(context, what: str):
    context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{what} is not implemented: this server's signatures are Predict signatures "
        "(tensorflow/serving/predict); use Predict",
    )


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService."""

    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def Predict(self, request, context):
        return _answer(self.manager, "Predict", api.predict, request, context)

    def GetModelMetadata(self, request, context):
        return _answer(self.manager, "GetModelMetadata", api.metadata, request, context)

    def Classify(self, request, context):
        _unimplemented(context, "Classify")

    def Regress(self, request, context):
        _unimplemented(context, "Regress")

    def MultiInference(self, request, context):
        _unimplemented(context, "MultiInference")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: status (reloading a config is not built)."""

    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def GetModelStatus(self, request, context):
        return _answer(self.manager, "GetModelStatus", api.status, request, context)

    def HandleReloadConfigRequest(self, request, context):
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "HandleReloadConfigRequest is not implemented: restart with the new "
            "--model_config_file (new versions in a base folder are picked up by polling)",
        )


def start(
    manager: ModelManager, host: str, port: int, threads: int, max_message_bytes: int
) -> tuple[grpc.Server, int]:
    """A started gRPC server for ``manager``; returns it and the port it listens on."""
    server = grpc.server(
        futures.ThreadPoolExecutor(threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),  # a port in use is an error, not a shared port
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as error:
        raise UserError(f"cannot listen for gRPC on {address}: {error}") from None
    if bound == 0:
        raise UserError(f"cannot listen for gRPC on {address}: the port is in use")
    server.start()
    return server, bound
