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

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
from absl import logging
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from mnist_convnet import contract
from mnist_convnet.errors import UserError
from mnist_convnet.serving import api
from mnist_convnet.serving.core import ModelManager
from mnist_convnet.serving.options import GRPC_PORT
from mnist_convnet.serving.status import ServingError

DEFAULT_PORT = GRPC_PORT


class _Calls:
    """How each RPC runs: on the gRPC event loop, awaiting the model without a thread,
    except what takes CPU time in Python or TensorFlow before the model (reading encoded
    images, checking a large tensor), which goes to a thread pool."""

    def __init__(self, manager: ModelManager, threads: int) -> None:
        self.manager = manager
        self.pool = futures.ThreadPoolExecutor(threads, thread_name_prefix="grpc")

    async def answer(self, api_name: str, build: Callable, request, context):
        """Runs ``build`` (-> response, or -> (future, finish) for Predict), recording a
        Predict as TF Serving's PredictionServiceImpl does (it records no other gRPC call);
        a refusal becomes its gRPC status."""
        started = time.monotonic()
        model = request.model_spec.name if request.HasField("model_spec") else ""
        record = self.manager.metrics.request if api_name in _RECORDED else _not_recorded
        try:
            if api_name != "Predict":
                response = build(self.manager, request)
            else:
                if _heavy(request):
                    loop = asyncio.get_running_loop()
                    submitted = await loop.run_in_executor(self.pool, build, self.manager, request)
                else:
                    submitted = build(self.manager, request)
                future, finish = submitted
                response = finish(await asyncio.wrap_future(future))
        except ServingError as error:
            record(model, api_name, "GRPC", error.code, 0.0)
            await context.abort(getattr(grpc.StatusCode, error.code), str(error))
        except Exception as error:  # a bug of ours: INTERNAL, logged, and keep serving
            if isinstance(error, asyncio.CancelledError):
                raise
            logging.exception("error serving gRPC %s", api_name)
            record(model, api_name, "GRPC", "INTERNAL", 0.0)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")
        record(model, api_name, "GRPC", "OK", time.monotonic() - started)
        return response


_RECORDED = ("Predict", "Classify", "Regress")  # prediction_service_impl.cc's RecordRequest*


def _not_recorded(*args) -> None:
    pass


def _heavy(request) -> bool:
    """Encoded images, explanations, or more than a few batches of rows: not for the loop."""
    return request.model_spec.signature_name in _OFF_LOOP or any(
        t.ByteSize() > _LOOP_BYTES for t in request.inputs.values()
    )


_OFF_LOOP = (*contract.IMAGE_SIGNATURES, contract.SERVING_EXPLAIN)  # whole-signature work
_LOOP_BYTES = 64 * 28 * 28 * 4  # a 64-row float tensor: checked in well under a millisecond


async def _unimplemented(context, what: str):
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{what} is not implemented: this server's signatures are Predict signatures "
        "(tensorflow/serving/predict); use Predict",
    )


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService."""

    def __init__(self, calls: _Calls) -> None:
        self.calls = calls

    async def Predict(self, request, context):
        start = functools.partial(api.start_predict, executor=self.calls.pool)
        return await self.calls.answer("Predict", start, request, context)

    async def GetModelMetadata(self, request, context):
        return await self.calls.answer("GetModelMetadata", api.metadata, request, context)

    async def Classify(self, request, context):
        await _unimplemented(context, "Classify")

    async def Regress(self, request, context):
        await _unimplemented(context, "Regress")

    async def MultiInference(self, request, context):
        await _unimplemented(context, "MultiInference")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: status (reloading a config is not built)."""

    def __init__(self, calls: _Calls) -> None:
        self.calls = calls

    async def GetModelStatus(self, request, context):
        return await self.calls.answer("GetModelStatus", api.status, request, context)

    async def HandleReloadConfigRequest(self, request, context):
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "HandleReloadConfigRequest is not implemented: write the --model_config_file "
            "(read again every --model_config_file_poll_wait_seconds for labels and policies) "
            "or restart with a new one",
        )


class GrpcServer:
    """A grpc.aio server on an event loop of its own thread (the process's main thread is
    granian's, or waitress')."""

    def __init__(self, manager: ModelManager, address: str, threads: int, max_message_bytes: int):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc", daemon=True)
        self._thread.start()
        self.calls = _Calls(manager, threads)
        try:
            self.port = self._run(self._start(address, max_message_bytes))
        except UserError:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _start(self, address: str, max_message_bytes: int) -> int:
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),  # a port in use is an error, not a shared port
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.calls), self.server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self.calls), self.server
        )
        try:
            port = self.server.add_insecure_port(address)
        except RuntimeError as error:
            raise UserError(f"cannot listen for gRPC on {address}: {error}") from None
        if port == 0:
            raise UserError(f"cannot listen for gRPC on {address}: the port is in use")
        await self.server.start()
        return port

    def stop(self, grace: float = 5.0) -> None:
        """Lets calls under way finish (up to ``grace`` seconds), then stops the loop."""
        self._run(self.server.stop(grace))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=grace + 5)
        self.calls.pool.shutdown(wait=False)


def start(
    manager: ModelManager, host: str, port: int, threads: int, max_message_bytes: int
) -> GrpcServer:
    """A started gRPC server for ``manager`` (its ``.port`` is the one it listens on)."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return GrpcServer(manager, address, threads, max_message_bytes)
