"""serving/metrics.py: TF Serving's metric names, scraped over HTTP and parsed as Prometheus."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mnist_convnet.errors import UserError
from mnist_convnet.serving import configs, core, metrics, rest
from mnist_convnet.serving.batching import BatchingOptions
from mnist_convnet.serving.options import WARMUP_ITERATIONS
from testbed.servers import serve_in_thread


def test_the_monitoring_config_file_is_tf_servings_text_format(tmp_path):
    config = tmp_path / "monitoring.config"
    config.write_text('prometheus_config { enable: true, path: "/metrics/here" }')
    assert metrics.read_monitoring_config(config) == "/metrics/here"
    config.write_text("prometheus_config { enable: true }")
    assert metrics.read_monitoring_config(config) == metrics.DEFAULT_PATH
    config.write_text("prometheus_config { enable: false }")
    assert metrics.read_monitoring_config(config) is None
    config.write_text("prometheus_config { enabled: yes }")
    with pytest.raises(UserError, match="monitoring.config"):
        metrics.read_monitoring_config(config)


def test_a_scrape_counts_requests_by_status_and_times_the_good_ones(exported, test_digits):
    manager = core.ModelManager(
        [configs.ModelConfig("mnist", exported.parent)], BatchingOptions(max_batch_size=8)
    )
    api = rest.RestApi(manager, metrics_path=metrics.DEFAULT_PATH)
    with serve_in_thread(api) as url:
        model = url + "/v1/models/mnist"
        for _ in range(3):
            requests.post(model + ":predict", json={"instances": test_digits[0][:2].tolist()})
        requests.post(model + ":predict", data=b"{not json")
        requests.post(
            model + "/versions/7:predict", json={"instances": test_digits[0][:1].tolist()}
        )
        scrape = requests.get(url + metrics.DEFAULT_PATH, timeout=30)
    manager.close()
    assert scrape.status_code == 200 and scrape.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(scrape.text)}
    counts = {
        (s.labels["model_name"], s.labels["status"]): s.value
        for s in families[":tensorflow:serving:request_count"].samples
    }
    assert counts == {
        ("mnist", "OK"): 3,
        ("mnist", "INVALID_ARGUMENT"): 1,
        ("mnist", "NOT_FOUND"): 1,
    }
    latency = families[":tensorflow:serving:request_latency"]
    assert latency.type == "histogram"
    (count,) = [
        s for s in latency.samples if s.name.endswith("_count") and s.labels["API"] == "predict"
    ]
    assert count.value == 3 and count.labels["entrypoint"] == "REST"
    batch_rows = {
        s.labels["signature_name"]: s.value
        for s in families[":mnist_convnet:batching:batch_size"].samples
        if s.name.endswith("_sum")
    }
    # Every row went through a batch: 3 x 2 rows, plus warm-up's one per pixel signature,
    # replayed WARMUP_ITERATIONS times.
    replays = WARMUP_ITERATIONS
    assert batch_rows == {"serving_default": 6 + replays, "serving_float": replays}
    assert ":mnist_convnet:batching:queued_rows" in families
    assert ":tensorflow:serving:model_warmup_latency" in families


def test_no_metrics_unless_asked(exported):
    with serve_in_thread(rest.for_folder(exported.parent, "mnist")) as url:
        assert requests.get(url + metrics.DEFAULT_PATH, timeout=30).status_code == 404


def _exponential(scale: float, growth: float, count: int) -> list[str]:
    """tensorflow::monitoring::Buckets::Exponential's limits as TF Serving prints them
    (the bound multiplied step by step, absl's six digits), then +Inf."""
    limits, bound = [], scale
    for _ in range(count):
        limits.append(f"{bound:.6g}")
        bound *= growth
    return [*limits, "+Inf"]


# The metrics we share with TF Serving, as its source declares them (tensorflow/serving at
# 9d981c5: servables/tensorflow/util.cc, servables/tensorflow/saved_model_warmup_util.cc,
# batching/batching_session.cc): name -> (kind, label names, bucket limits).
TF_SERVING = {
    ":tensorflow:serving:request_count": ("counter", ["model_name", "status"], None),
    ":tensorflow:serving:request_latency": (
        "histogram",
        ["model_name", "API", "entrypoint"],
        _exponential(10, 1.8, 33),
    ),
    ":tensorflow:serving:model_warmup_latency": (
        "histogram",
        ["model_path", "status"],
        _exponential(10, 1.8, 33),
    ),
    ":tensorflow:serving:model_warmup_records_read": ("counter", ["model_path", "status"], None),
    ":tensorflow:serving:batching_session:queuing_latency": (
        "histogram",
        ["thread_pool_name"],
        _exponential(100, 1.2, 52),
    ),
}


def _scrape_lines(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], str]]]:
    """({name: type} from the TYPE lines, [(sample name, labels, value)])."""
    import re

    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            _, keyword, name, kind = line.split(" ")
            assert keyword == "TYPE", line  # TF Serving writes no HELP lines
            types[name] = kind
            continue
        name, labels, value = re.fullmatch(r"([^{]+)\{(.*)\} (\S+)", line).groups()
        samples.append((name, dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)), value))
    return types, samples


def test_the_scrape_is_tf_servings_exposition_for_the_metrics_we_share(exported, test_digits):
    """Names (a counter by its bare name), label names, bucket limits as TF Serving's
    source declares them; API as its handlers record it: REST's URL verb (``predict``,
    empty for a status GET), gRPC's ``Predict``; gRPC's GetModelMetadata not counted."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    from mnist_convnet.serving import grpc_api

    manager = core.ModelManager(
        [configs.ModelConfig("mnist", exported.parent)], BatchingOptions(max_batch_size=8)
    )
    api = rest.RestApi(manager, metrics_path=metrics.DEFAULT_PATH)
    server = grpc_api.start(manager, "127.0.0.1", 0, threads=2, max_message_bytes=1 << 20)
    with serve_in_thread(api) as url, grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "mnist"
        request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(test_digits[0][:1]))
        stub.Predict(request, timeout=30)
        stub.GetModelMetadata(
            get_model_metadata_pb2.GetModelMetadataRequest(
                model_spec=request.model_spec, metadata_field=["signature_def"]
            ),
            timeout=30,
        )
        requests.post(url + "/v1/models/mnist:predict", json={"instances": [[[0] * 28] * 28]})
        requests.get(url + "/v1/models/mnist", timeout=30)
        text = requests.get(url + metrics.DEFAULT_PATH, timeout=30).text
    server.stop(grace=1)
    manager.close()
    types, samples = _scrape_lines(text)
    assert "_total" not in text
    for name, (kind, labels, buckets) in TF_SERVING.items():
        assert types[name] == kind, name
        mine = [
            (n, lab)
            for n, lab, _ in samples
            if n.removesuffix("_bucket") == name
            or (kind == "histogram" and n in (f"{name}_sum", f"{name}_count"))
        ]
        assert mine, name
        for sample_name, sample_labels in mine:
            extra = ["le"] if sample_name.endswith("_bucket") else []
            assert list(sample_labels) == labels + extra, (sample_name, sample_labels)
        if buckets:
            first = mine[0][1]
            limits = [
                lab["le"]
                for n, lab in mine
                if n.endswith("_bucket")
                and {k: v for k, v in lab.items() if k != "le"}
                == {k: v for k, v in first.items() if k != "le"}
            ]
            assert limits == buckets, name
    latency = {
        (lab["API"], lab["entrypoint"]): int(value)
        for n, lab, value in samples
        if n == ":tensorflow:serving:request_latency_count"
    }
    assert latency == {("predict", "REST"): 1, ("", "REST"): 1, ("Predict", "GRPC"): 1}
    counts = [int(v) for n, _, v in samples if n == ":tensorflow:serving:request_count"]
    assert counts == [3]  # REST predict, REST status, gRPC Predict: not the metadata call
