"""Load generators for the serving benchmarks: many concurrent clients of one server.

    grpc_load   ``clients`` concurrent Predict calls on one grpc.aio channel (the
                official tensorflow-serving-api stub), each client calling again as soon
                as it is answered, for ``seconds``
    rest_load   ``clients`` threads, each with one keep-alive ``http.client`` connection,
                POSTing the same body to a REST predict URL

Each returns requests per second, errors and p50/p99 latency (ms), as JSON-ready dicts.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time

import grpc
import numpy as np
from tensorflow_serving.apis import prediction_service_pb2_grpc


def percentiles(seconds: list[float]) -> dict:
    """p50 and p99 in ms of the answered requests (None when none was answered)."""
    if not seconds:
        return {"p50_ms": None, "p99_ms": None}
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def grpc_load(address: str, request, clients: int, seconds: float) -> dict:
    latencies, errors = [], 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    await stub.Predict(request, timeout=30)
                    latencies.append(time.perf_counter() - start)
                except grpc.RpcError:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return {
        "requests_per_second": round(len(latencies) / seconds, 1),
        "errors": errors,
        **percentiles(latencies),
    }


def rest_load(host: str, port: int, body: bytes, clients: int, seconds: float) -> dict:
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                connection.request("POST", "/v1/models/mnist:predict", body, headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                connection = http.client.HTTPConnection(host, port, timeout=30)
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "requests_per_second": round(len(latencies) / seconds, 1),
        "errors": errors[0],
        **percentiles(latencies),
    }
