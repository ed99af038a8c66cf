"""gRPC against REST, warm-up and a hot swap, on one `mnist-convnet serve` process.

    python -m bench.grpc_rest --model_dir=saved_models/mnist_convnet

Runs ``make serve``'s server (granian, ``--enable_batching``) with gRPC on a free port in
a copy of the model's base folder, then, printing one JSON document (``--only`` picks
the parts):

- ``first_request``: the first request of each kind after start-up against the median of
  the next 20 (gRPC and REST each on a fresh server), and ``first_request_without_warmup``
  the same for a copy of the version without its tf_serving_warmup_requests file: what
  warm-up buys. Beside each, ``after_idle_ratio``: one more request after
  ``--idle_seconds`` of quiet against the same median, since a first request after
  start-up always follows idleness, which slows a warm server too (docs/serving.md).
  Each on ``--starts`` fresh servers, a row each, with the median of each ratio;
- ``load``: the same MNIST test digit as uint8 pixels, one per request, from ``clients``
  concurrent clients for ``seconds`` each, over gRPC (the official stub, grpc.aio) and
  over REST (aiohttp-free: one keep-alive ``http.client`` connection per client thread),
  taking turns; req/s, p50, p99, errors and the server's memory;
- ``soak`` (``--soak_seconds``): 128 gRPC clients, errors and the server's memory growth;
- ``hot_swap``: while a client streams gRPC requests (50 a second), a new version is
  renamed into the base folder; seconds until it answers and until the old version is
  unloaded, failed requests meanwhile, the slowest answer in that time (a version loaded
  and one unloaded beside the serving one), the new version's first answer against the
  median of its next 20 (warm-up's worth after a new version, as ``first_request`` is
  after start-up), and the memory change once the old version is unloaded;
- ``respawn``: while a REST and a gRPC client each stream requests (50 a second), the
  granian worker is killed (SIGKILL) and its parent starts another; per API, the seconds
  from the kill to the first good answer, the requests lost in flight (sent before the
  kill, failed after it), those refused while no worker listened (a clean connection
  error), any other failure or hang (none expected), and the version's state after.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from absl import app, flags
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bench import summaries
from mnist_convnet import versions
from mnist_convnet.training import data
from testbed import clients, memory
from testbed.servers import wait_until_answering

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel base folder.")
flags.DEFINE_integer("seconds", 10, "Seconds of load per run.")
flags.DEFINE_list("clients", ["32"], "Concurrent clients per run.")
flags.DEFINE_integer("rounds", 2, "Rounds; gRPC and REST take turns within each.")
flags.DEFINE_integer("soak_seconds", 0, "A last gRPC run of soak_clients clients (0: none).")
flags.DEFINE_integer("soak_clients", 128, "Clients of the soak run.")
flags.DEFINE_string("data_dir", None, "tfds data dir.")
flags.DEFINE_float(
    "idle_seconds", 1.5, "Quiet before the request that each first request is held against."
)
flags.DEFINE_integer(
    "num_request_iterations_for_warmup",
    None,
    "Passed to the servers (default: serve's own); 1 is TF Serving's default.",
)
FIRST_REQUESTS = ("grpc_pixels", "rest_pixels", "rest_b64_png")
flags.DEFINE_multi_enum(
    "first_requests",
    list(FIRST_REQUESTS),
    FIRST_REQUESTS,
    "The kinds of first request to time, each with and without warm-up (gRPC costs two "
    "server starts, REST two more).",
)
flags.DEFINE_integer(
    "starts", 5, "Fresh servers per kind of first request, with and without warm-up each."
)
PARTS = ("first_requests", "load", "hot_swap", "respawn")
flags.DEFINE_multi_enum(
    "only", list(PARTS), PARTS, "The measurements to make (load and hot_swap share a server)."
)
FLAGS = flags.FLAGS


def _request(pixels: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(pixels))
    return request


def _first_requests(base: Path, pixels: np.ndarray, png: bytes) -> dict:
    """Each kind's first request on ``--starts`` fresh servers (one start's row each), and
    their median ratios: one start is one sample of a noisy millisecond on a shared CPU."""
    starts = [_first_requests_once(base, pixels, png) for _ in range(FLAGS.starts)]
    return {kind: summaries.over_starts([start[kind] for start in starts]) for kind in starts[0]}


def _first_requests_once(base: Path, pixels: np.ndarray, png: bytes) -> dict:
    """Milliseconds of the first request of each kind right after start-up, then the median
    of 20 more: gRPC pixels (on a channel already connected) on one fresh server, REST pixels
    then REST b64 PNG on another, nothing else running beside either. Right after start:
    any request after a second or more of idleness takes 2-3x a back-to-back one, warm or
    not, and a first request that follows other work measures that work (docs/serving.md)."""
    import base64

    import requests

    result = {}
    if "grpc_pixels" in FLAGS.first_requests:
        process, _, address = _serve(base)
        try:
            result["grpc_pixels"] = _first_grpc(address, pixels)
        finally:
            _stop(process)
    rest = {
        "rest_pixels": json.dumps({"instances": pixels.tolist()}).encode(),
        "rest_b64_png": json.dumps(
            {"instances": [{"b64": base64.b64encode(png).decode()}]}
        ).encode(),
    }
    rest = {kind: body for kind, body in rest.items() if kind in FLAGS.first_requests}
    if rest:
        process, url, _ = _serve(base)
        try:
            for kind, body in rest.items():
                result[kind] = _timed(
                    lambda body=body: requests.post(url + ":predict", data=body, timeout=60)
                )
        finally:
            _stop(process)
    return result


def _timed(call) -> dict:
    """``call`` 21 times: the first against the median of the other 20; then once more
    after ``--idle_seconds`` of quiet, against the same median."""

    def once() -> float:
        start = time.perf_counter()
        call()
        return 1000 * (time.perf_counter() - start)

    times = [once() for _ in range(21)]
    row = summaries.first_against_warm(times[0], times[1:])
    time.sleep(FLAGS.idle_seconds)
    after_idle = once()
    row["after_idle_ms"] = round(after_idle, 2)
    row["after_idle_ratio"] = round(after_idle / statistics.median(times[1:]), 2)
    return row


def _first_grpc(address: str, pixels: np.ndarray) -> dict:
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        # The client's first call is its own set-up, not the server's: one status call first,
        # as the REST side's first predict follows wait_until_answering's GETs.
        status = model_service_pb2_grpc.ModelServiceStub(channel)
        status.GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "mnist"}), timeout=30
        )
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return _timed(lambda: stub.Predict(_request(pixels), timeout=60))


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def _serve(base: Path, *flags: str):
    command = [
        sys.executable, "-m", "mnist_convnet", "serve", f"--model_dir={base}", "--port=0",
        "--grpc_port=0", "--enable_batching", *flags,
    ]  # fmt: skip
    if FLAGS.num_request_iterations_for_warmup:
        command.append(
            f"--num_request_iterations_for_warmup={FLAGS.num_request_iterations_for_warmup}"
        )
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    url, address = re.search(r"on (http://\S+/v1/models/mnist), gRPC on (\S+);", line).groups()
    wait_until_answering(url)
    return process, url, address


def _wait_until_ended(address: str, version: int, deadline: float) -> float | None:
    """When ``version`` of mnist reached END (unloaded), as GetModelStatus says; None if
    not by ``deadline``."""
    request = get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": "mnist", "version": {"value": version}}
    )
    with grpc.insecure_channel(address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        while time.monotonic() < deadline:
            (status,) = stub.GetModelStatus(request, timeout=30).model_version_status
            if status.state == status.END:
                return time.monotonic()
            time.sleep(0.02)
    return None


def _hot_swap(address: str, base: Path, version_dir: Path, pixels: np.ndarray) -> dict:
    seen, failures, stop = [], [], threading.Event()

    def stream() -> None:
        with grpc.insecure_channel(address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not stop.is_set():
                start = time.monotonic()
                try:
                    version = stub.Predict(_request(pixels), timeout=30).model_spec.version.value
                    seen.append((time.monotonic(), version, time.monotonic() - start))
                except grpc.RpcError as error:
                    failures.append(error.details())
                stop.wait(0.02)

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(2)
    new = versions.next_number(base)
    staging = base / f".export-bench-{new}"
    shutil.copytree(version_dir, staging)
    appeared = time.monotonic()
    staging.rename(base / str(new))
    while not any(v == new for _, v, _ in seen) and time.monotonic() < appeared + 60:
        time.sleep(0.01)
    while sum(v == new for _, v, _ in seen) < 21 and time.monotonic() < appeared + 60:
        time.sleep(0.05)
    unloaded = _wait_until_ended(address, new - 1, appeared + 60)  # requests still flowing
    stop.set()
    thread.join()
    on_new = [(t, ms * 1000) for t, v, ms in seen if v == new]
    during = [ms * 1000 for t, _, ms in seen if t > appeared]
    report = {
        "switch_seconds": round(on_new[0][0] - appeared, 2) if on_new else None,
        "failed_requests": len(failures),
        "requests": len(seen),
        "old_version_unloaded_seconds": round(unloaded - appeared, 2) if unloaded else None,
        # The new version's load, warm-up and the old one's unload share the CPU with
        # the requests: the slowest answer from the folder's appearance to the unload.
        "slowest_request_ms": round(max(during), 2) if during else None,
    }
    if len(on_new) > 1:
        report["first_request_on_new_version"] = summaries.first_against_warm(
            on_new[0][1], [ms for _, ms in on_new[1:21]]
        )
    return report


def main(argv: list[str]) -> None:
    del argv
    images, _ = data.as_numpy(data.load(FLAGS.data_dir, data.default_manual_dir()).test, 1)
    pixels = np.round(images[..., 0] * 255).astype(np.uint8)
    png = tf.io.encode_png(255 - pixels[0][..., None]).numpy()
    latest = versions.latest(FLAGS.model_dir)
    folder = Path(tempfile.mkdtemp(prefix="grpc-rest-"))
    report: dict = {
        "model": str(latest),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": FLAGS.seconds,
    }
    base = folder / "mnist_convnet"
    try:
        shutil.copytree(latest, base / "1")
        if "first_requests" in FLAGS.only:
            # Warm-up's worth: the same version served with and without its warm-up file.
            cold = folder / "cold" / "mnist_convnet"
            shutil.copytree(latest, cold / "1")
            (cold / "1" / "assets.extra" / "tf_serving_warmup_requests").unlink(missing_ok=True)
            report["first_request_without_warmup"] = _first_requests(cold, pixels, png)
            report["first_request"] = _first_requests(base, pixels, png)
        if {"load", "hot_swap", "respawn"} & set(FLAGS.only):
            report.update(_on_one_server(base, latest, pixels))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(report, indent=2))


def _on_one_server(base: Path, latest: Path, pixels: np.ndarray) -> dict:
    """gRPC against REST (and the soak), then the hot swap, on one server of ``base``."""
    report: dict = {}
    process, url, address = _serve(base)
    try:
        if "load" in FLAGS.only:
            report.update(_load(process, url, address, pixels))
        if "hot_swap" in FLAGS.only:
            before = memory.tree_rss_kb(process.pid)
            report["hot_swap"] = _hot_swap(address, base, latest, pixels)
            time.sleep(1)  # the unload's memory returned (malloc_trim), the RSS settled
            report["hot_swap"]["rss_change_mb"] = round(
                (memory.tree_rss_kb(process.pid) - before) / 1024, 1
            )
        if "respawn" in FLAGS.only:
            report["respawn"] = _respawn(process, url, address, pixels)
    finally:
        _stop(process)
    return report


def _respawn(process: subprocess.Popen, url: str, address: str, pixels: np.ndarray) -> dict:
    """The worker killed under a REST and a gRPC stream; what each client saw (above)."""
    (worker,) = memory.children(process.pid)
    body = json.dumps({"instances": pixels.tolist()}).encode()
    seen: dict[str, list] = {"rest": [], "grpc": []}  # (sent, answered, outcome)
    stop = threading.Event()

    def stream(api: str, call) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            seen[api].append((sent, time.monotonic(), call()))
            stop.wait(0.02)

    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        threads = [
            threading.Thread(target=stream, args=("rest", lambda: _rest_outcome(url, body))),
            threading.Thread(target=stream, args=("grpc", lambda: _grpc_outcome(stub, pixels))),
        ]
        for thread in threads:
            thread.start()
        time.sleep(1)
        killed = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        while time.monotonic() < killed + 120 and not all(
            any(t > killed and o == "ok" for _, t, o in seen[api][-3:]) for api in seen
        ):
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
    status = json.loads(urllib.request.urlopen(url, timeout=30).read())
    report = {api: _after_the_kill(seen[api], killed) for api in seen}
    report["state_after"] = status["model_version_status"][0]["state"]
    report["worker_replaced"] = memory.children(process.pid) not in ([], [worker])
    return report


def _rest_outcome(url: str, body: bytes) -> str:
    try:
        with urllib.request.urlopen(url + ":predict", data=body, timeout=10) as answer:
            return "ok" if answer.status == 200 else f"http {answer.status}"
    except urllib.error.HTTPError as error:
        return f"http {error.code}"
    except TimeoutError:
        return "hung"
    except urllib.error.URLError as error:
        return "hung" if isinstance(error.reason, TimeoutError) else "connection"
    except (ConnectionError, http.client.HTTPException):
        return "connection"


def _grpc_outcome(stub, pixels: np.ndarray) -> str:
    try:
        stub.Predict(_request(pixels), timeout=10)
        return "ok"
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNAVAILABLE:
            return "connection"
        return "hung" if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED else error.code().name


def _after_the_kill(seen: list, killed: float) -> dict:
    """One API's stream around the kill: seconds to the first good answer after it, the
    requests in flight that it lost, those refused while no worker listened, the rest."""
    after = [(sent, answered, o) for sent, answered, o in seen if answered > killed]
    good = [answered for _, answered, o in after if o == "ok"]
    failed = [(sent, o) for sent, _, o in after if o != "ok"]
    return {
        "back_seconds": round(good[0] - killed, 2) if good else None,
        "lost_in_flight": sum(sent <= killed for sent, _ in failed),
        "refused_while_down": sum(sent > killed and o == "connection" for sent, o in failed),
        "other_failures": sorted({o for _, o in failed if o != "connection"}),
        "requests_after": len(after),
    }


def _load(process: subprocess.Popen, url: str, address: str, pixels: np.ndarray) -> dict:
    """gRPC and REST taking turns at each number of clients, then the soak if asked."""
    host, port = re.search(r"http://([^:/]+):(\d+)", url).groups()
    body = json.dumps({"instances": pixels.tolist()}).encode()
    request = _request(pixels)
    runs = []
    for round_ in range(FLAGS.rounds):
        for count in map(int, FLAGS.clients):
            grpc_run = asyncio.run(clients.grpc_load(address, request, count, FLAGS.seconds))
            rest_run = clients.rest_load(host, int(port), body, count, FLAGS.seconds)
            runs.append({"round": round_, "clients": count, "api": "grpc", **grpc_run})
            runs.append({"round": round_, "clients": count, "api": "rest", **rest_run})
    report: dict = {"load": runs}
    if FLAGS.soak_seconds:
        before = memory.tree_rss_kb(process.pid)
        soak = asyncio.run(
            clients.grpc_load(address, request, FLAGS.soak_clients, FLAGS.soak_seconds)
        )
        growth = (memory.tree_rss_kb(process.pid) - before) / 1024
        report["soak"] = {
            "clients": FLAGS.soak_clients,
            "seconds": FLAGS.soak_seconds,
            **soak,
            "rss_growth_mb": round(growth, 1),
        }
    return report


if __name__ == "__main__":
    app.run(main)
