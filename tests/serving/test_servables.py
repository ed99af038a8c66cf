"""servables.py: versions polled from disk, loaded, warmed up and unloaded by policy."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from mnist_convnet.serving import configs, core, grpc_api, rest, servables
from testbed.servers import serve_in_thread


def _appear(exported: Path, base: Path, version: int) -> None:
    """A new version appearing as our exports do: written aside, renamed into place."""
    staging = base / f".export-{version}"
    shutil.copytree(exported, staging)
    os.rename(staging, base / str(version))


def _grpc_predict(stub, pixels) -> int:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(pixels))
    return stub.Predict(request, timeout=30).model_spec.version.value


@pytest.mark.slow
def test_a_new_version_is_served_within_seconds_with_no_failed_request(
    exported, tmp_path, test_digits
):
    """Streams of REST and gRPC requests (a client each, 50 a second) while version 2
    appears: none fails, version 2 answers (how soon is bench.hot_swap's to measure), and
    version 1 is then unloaded (END) and refused (404), never loaded again on demand."""
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)])
    manager.start_polling(0.2)
    server = grpc_api.start(manager, "127.0.0.1", 0, threads=4, max_message_bytes=1 << 22)
    failures, versions, stop = [], [], threading.Event()
    body = {"instances": [test_digits[0][0].tolist()]}
    with (
        serve_in_thread(rest.RestApi(manager)) as url,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        model = url + "/v1/models/mnist"

        def rest_stream():
            while not stop.is_set():
                answer = requests.post(model + ":predict", json=body, timeout=30)
                if answer.status_code != 200:
                    failures.append(answer.text)
                stop.wait(0.02)

        def grpc_stream():
            while not stop.is_set():
                try:
                    versions.append((time.monotonic(), _grpc_predict(stub, test_digits[0][:1])))
                except grpc.RpcError as error:
                    failures.append(error.details())
                stop.wait(0.02)

        streams = [threading.Thread(target=f) for f in (rest_stream, grpc_stream)]
        for stream in streams:
            stream.start()
        time.sleep(1.0)
        _appear(exported, base, 2)
        appeared = time.monotonic()
        while not any(v == 2 for _, v in versions) and time.monotonic() < appeared + 60:
            time.sleep(0.05)
        time.sleep(1.0)
        stop.set()
        for stream in streams:
            stream.join()
        old = requests.post(model + "/versions/1:predict", json=body, timeout=30)
    server.stop(grace=1)
    assert failures == []
    assert any(v == 2 for _, v in versions) and versions[-1][1] == 2
    # Unloading finishes after the switch (its session closes, its graph is collected):
    # under CI's load that has taken more than the second above, so wait for it, bounded.
    deadline = time.monotonic() + 30
    while manager.status("mnist")[-1][1] != "END" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(v, s) for v, s, _ in manager.status("mnist")] == [(2, "AVAILABLE"), (1, "END")]
    assert old.status_code == 404
    manager.close()


def test_a_broken_version_ends_with_its_error_and_the_old_one_keeps_serving(
    exported, tmp_path, test_digits
):
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)], max_num_load_retries=0)
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"not a protobuf")
    manager.poll()
    (two, state, message), (one, *_rest) = manager.status("mnist")
    assert (two, state, one) == (2, "END", 1) and "cannot load SavedModel" in message
    assert manager.servable("mnist").version == 1
    manager.close()


def test_a_version_caught_half_copied_is_served_after_a_retry(exported, tmp_path):
    """TF Serving's --max_num_load_retries: the failed load leaves version 2 LOADING with
    its error; completed before the retry is due, it is served by the poll after that,
    and version 1 answers all the while."""
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager(
        [configs.ModelConfig("mnist", base)], max_num_load_retries=2, load_retry_interval=0.5
    )
    (base / "2").mkdir()
    shutil.copy(exported / "saved_model.pb", base / "2")  # the variables are still to come
    manager.poll()
    (two, state, message), _ = manager.status("mnist")
    assert (two, state) == (2, "LOADING") and message
    assert manager.servable("mnist").version == 1
    shutil.rmtree(base / "2")
    shutil.copytree(exported, base / "2")
    manager.poll()  # the retry is not due yet: nothing tried, nothing changed
    assert manager.status("mnist")[0][:2] == (2, "LOADING")
    time.sleep(0.6)
    manager.poll()
    assert manager.status("mnist")[0] == (2, "AVAILABLE", "")
    assert manager.servable("mnist").version == 2
    manager.close()


def test_a_garbage_warm_up_file_ends_the_version_with_a_sentence(exported, tmp_path):
    """Retried as often as asked, then END with what is wrong, never LOADING for ever."""
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager(
        [configs.ModelConfig("mnist", base)], max_num_load_retries=1, load_retry_interval=0.0
    )
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"\x00garbage" * 50)
    os.rename(broken, base / "2")
    manager.poll()
    assert manager.status("mnist")[0][:2] == (2, "LOADING")
    manager.poll()
    (two, state, message), _ = manager.status("mnist")
    assert (two, state) == (2, "END")
    assert "tf_serving_warmup_requests is not a file of TFRecords" in message
    assert manager.servable("mnist").version == 1
    manager.close()


def test_any_failure_of_a_load_ends_in_end_with_its_message(exported, tmp_path, monkeypatch):
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)], max_num_load_retries=0)

    def broken(self, iterations=1):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(servables.Servable, "warm_up", broken)
    _appear(exported, base, 2)
    manager.poll()
    assert manager.status("mnist")[0] == (2, "END", "RuntimeError: the disk went away")
    assert manager.servable("mnist").version == 1
    manager.close()


def test_a_call_that_would_block_runs_on_the_executor_given(exported, tmp_path, test_digits):
    """An event loop passes its pool: a model call that no batch takes (none here) runs
    there, never in the caller, and answers as the call made in the caller does."""
    from concurrent.futures import ThreadPoolExecutor

    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)])
    servable = manager.servable("mnist")
    pixels, _ = test_digits
    inputs = {"pixels": pixels[:2]}
    ran_in = []
    real = servable._call
    servable._call = lambda *a: ran_in.append(threading.current_thread().name) or real(*a)
    with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        outputs = servable.submit("serving_default", inputs, pool).result()
    assert ran_in == ["pool_0"]
    expected = servable.submit("serving_default", inputs).result()
    assert ran_in == ["pool_0", threading.current_thread().name]
    np.testing.assert_array_equal(outputs["classes"], expected["classes"])
    manager.close()


def test_every_version_is_warmed_up_before_it_answers(exported, tmp_path):
    """The export's warm-up file is replayed on load: each signature has run once."""
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)])
    text = manager.metrics.exposition().decode()
    assert ':tensorflow:serving:model_warmup_latency_count{model_path="' in text
    assert manager.servable("mnist").warm_up() == 5  # one request per signature
    manager.close()


def test_each_warm_up_request_is_replayed_as_often_as_asked(exported, tmp_path, monkeypatch):
    """TF Serving's --num_request_iterations_for_warmup: every signature's request runs that
    many times before the version answers (the first call sets the graph up, the next two
    are still slow: docs/serving.md)."""
    calls: dict[str, int] = {}
    real = servables.Servable.predict

    def counted(self, signature_name, inputs):
        calls[signature_name] = calls.get(signature_name, 0) + 1
        return real(self, signature_name, inputs)

    monkeypatch.setattr(servables.Servable, "predict", counted)
    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)], warmup_iterations=3)
    assert calls == {name: 3 for name in manager.servable("mnist").signatures}
    assert len(calls) == 5
    manager.close()


def test_unloading_drops_the_servable_one_poll_after_its_successor_came(exported, tmp_path):
    """Under latest:1, the poll that brings version 2 in leaves 1 loaded (its unload would
    share the CPU with 2's first requests); the next poll unloads it, and nothing holds it."""
    import gc
    import weakref

    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager([configs.ModelConfig("mnist", base)])
    old = weakref.ref(manager.servable("mnist"))
    _appear(exported, base, 2)
    manager.poll()
    assert manager.servable("mnist").version == 2
    assert [(v, s) for v, s, _ in manager.status("mnist")] == [(2, "AVAILABLE"), (1, "AVAILABLE")]
    manager.poll()
    assert [(v, s) for v, s, _ in manager.status("mnist")] == [(2, "AVAILABLE"), (1, "END")]
    gc.collect()
    assert old() is None and manager.servable("mnist").version == 2
    assert np.isfinite(
        manager.servable("mnist").predict(
            "serving_default", {"pixels": np.zeros((1, 28, 28), np.uint8)}
        )["probabilities"]
    ).all()
    manager.close()


def test_a_late_request_on_an_unloaded_version_makes_no_batcher_and_lets_it_go(
    exported, tmp_path, test_digits
):
    """A request that took version 1 just before its unload still gets its answer (run
    alone), but makes no new batcher, whose threads would keep the version in memory;
    asked for by number after the unload, version 1 is NOT_FOUND."""
    import gc
    import weakref

    from mnist_convnet.serving.batching import BatchingOptions
    from mnist_convnet.serving.status import ServingError

    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager(
        [configs.ModelConfig("mnist", base)], BatchingOptions(max_batch_size=8)
    )
    late = manager.servable("mnist")  # taken by a request before the swap
    _appear(exported, base, 2)
    manager.poll()
    manager.poll()  # version 1 unloaded: its batchers closed
    assert late._batchers == {}
    threads_before = threading.active_count()
    answer = late.predict("serving_default", {"pixels": test_digits[0][:2]})
    assert answer["classes"].shape == (2,)
    assert late._batchers == {} and threading.active_count() == threads_before
    with pytest.raises(ServingError) as refused:
        manager.servable("mnist", version=1)
    assert refused.value.code == "NOT_FOUND"
    gone = weakref.ref(late)
    del late, answer
    gc.collect()
    assert gone() is None
    manager.close()


def test_a_warm_up_that_fails_half_way_leaves_no_batch_thread(exported, tmp_path, monkeypatch):
    """The replay had made a batcher (its threads hold the version) before it failed: the
    failed version's batchers are closed with it."""
    from mnist_convnet.errors import UserError
    from mnist_convnet.serving.batching import BatchingOptions

    base = tmp_path / "mnist_convnet"
    _appear(exported, base, 1)
    manager = core.ModelManager(
        [configs.ModelConfig("mnist", base)],
        BatchingOptions(max_batch_size=8),
        max_num_load_retries=0,
    )
    before = {t for t in threading.enumerate() if t.name.startswith("batch-")}

    def half_way(self, iterations=1):
        self.predict("serving_default", {"pixels": np.zeros((1, 28, 28), np.uint8)})
        raise UserError("the second record is broken")

    monkeypatch.setattr(servables.Servable, "warm_up", half_way)
    _appear(exported, base, 2)
    manager.poll()
    assert manager.status("mnist")[0] == (2, "END", "the second record is broken")
    time.sleep(0.5)  # closed batchers' threads finish
    after = {t for t in threading.enumerate() if t.name.startswith("batch-") and t.is_alive()}
    assert after <= before
    manager.close()


def test_a_config_file_read_again_brings_new_labels_and_keeps_a_broken_one_out(exported, tmp_path):
    """--model_config_file_poll_wait_seconds: a label written into the file (as
    `personalize --label` does) is answered once the file is read again; a file broken
    afterwards is logged and the labels in force stay."""
    base = tmp_path / "mnist_convnet"
    for version in (1, 2):
        _appear(exported, base, version)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "mnist" base_path: "{base}" '
        "model_version_policy { all {} } } }"
    )
    manager = core.ModelManager(configs.read_model_config_file(config))
    manager.watch_config_file(config, 0.05)
    try:
        configs.set_label(config, base, "alice", 2)
        deadline = time.monotonic() + 30
        while "alice" not in manager.configs["mnist"].labels and time.monotonic() < deadline:
            time.sleep(0.05)
        assert manager.servable("mnist", label="alice").version == 2
        config.write_text("model_config_list { config { nme: 1 } }")
        time.sleep(0.5)
        assert manager.servable("mnist", label="alice").version == 2
    finally:
        manager.close()
