"""clients.py: the load generators count what the server answers, and only that."""

from __future__ import annotations

import asyncio
from concurrent import futures

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from testbed import clients
from testbed.servers import serve_in_thread


def _app(status: str):
    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]

    return app


@pytest.mark.parametrize("status, ok", [("200 OK", True), ("400 Bad Request", False)])
def test_rest_load_counts_answers_and_errors(status, ok):
    with serve_in_thread(_app(status)) as url:
        host, port = url.removeprefix("http://").split(":")
        run = clients.rest_load(host, int(port), b'{"instances": [[0]]}', 4, 0.5)
    if ok:
        assert run["requests_per_second"] > 0 and run["errors"] == 0
        assert 0 < run["p50_ms"] <= run["p99_ms"]
    else:
        assert run["requests_per_second"] == 0 and run["errors"] > 0


class _Predictions(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, fail: bool) -> None:
        self.fail, self.calls = fail, 0

    def Predict(self, request, context):
        self.calls += 1
        if self.fail:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no")
        return predict_pb2.PredictResponse()


@pytest.mark.parametrize("fail", [False, True])
def test_grpc_load_counts_answers_and_errors(fail):
    server = grpc.server(futures.ThreadPoolExecutor(4))
    servicer = _Predictions(fail)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "mnist"
        run = asyncio.run(clients.grpc_load(f"127.0.0.1:{port}", request, 4, 0.5))
    finally:
        server.stop(0)
    answered = run["requests_per_second"] * 0.5
    assert servicer.calls >= (run["errors"] if fail else answered) > 0
    assert (run["errors"] > 0) == fail and (answered > 0) != fail
