"""serving/metrics.py: TF Serving's metric names, scraped over HTTP and parsed as Prometheus."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mnist_convnet.errors import UserError
from mnist_convnet.serving import metrics, models, rest
from mnist_convnet.serving.batching import BatchingOptions
from mnist_convnet.serving.options import WARMUP_ITERATIONS
from mnist_convnet.testing.servers import serve_in_thread


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
    manager = models.ModelManager(
        [models.ModelConfig("mnist", exported.parent)], BatchingOptions(max_batch_size=8)
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
