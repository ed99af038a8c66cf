"""Prometheus metrics exactly as TF Serving exposes them, for an operator's dashboards.

TF Serving exports its ``tensorflow::monitoring`` metrics at
``/monitoring/prometheus/metrics`` when its ``--monitoring_config_file`` says
``prometheus_config { enable: true }``, naming each by its path with ``/`` as ``:``
(``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``). The
same names here, with the labels, label values and buckets of TF Serving's source
(``servables/tensorflow/util.cc``, ``saved_model_warmup_util.cc``,
``batching/batching_session.cc``; latencies in microseconds):

    :tensorflow:serving:request_count          counter    model_name, status
    :tensorflow:serving:request_latency        histogram  model_name, API, entrypoint
    :tensorflow:serving:model_warmup_latency   histogram  model_path, status
    :tensorflow:serving:model_warmup_records_read  counter  model_path, status
    :tensorflow:serving:batching_session:queuing_latency  histogram  thread_pool_name

TF Serving counts what its handlers count: every REST request to a model, with ``API``
the verb of its URL (``predict``; empty for the GETs of status and metadata, which name
none) and ``entrypoint`` REST; gRPC's Predict with ``API`` ``Predict`` and entrypoint
GRPC; gRPC's GetModelMetadata and GetModelStatus not at all. Two metrics of ours, for what
TF Serving keeps in percentile samplers Prometheus cannot show:

    :mnist_convnet:batching:batch_size         histogram  model_name, signature_name
    :mnist_convnet:batching:queued_rows        gauge      model_name, signature_name

prometheus-client records; the page is written as TF Serving's ``prometheus_exporter.cc``
writes it (``exposition``): a counter by its bare name (prometheus-client would add
``_total``), no HELP lines, bucket limits and sums with six significant digits. Each
server has its own registry, so two in one process (the tests) count apart.
"""

from __future__ import annotations

from pathlib import Path

import prometheus_client
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from mnist_convnet.errors import UserError

DEFAULT_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath
prometheus_client.disable_created_metrics()  # TF Serving exports no *_created series


def _exponential(scale: float, growth: float, count: int) -> list[float]:
    """tensorflow::monitoring::Buckets::Exponential's bucket limits."""
    return [scale * growth**i for i in range(count)]


_LATENCY = _exponential(10, 1.8, 33)  # 10 us .. ~20 minutes, as TF Serving's
_QUEUING = _exponential(100, 1.2, 52)  # 100 us .. ~1 s
_BATCH = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


class Metrics:
    """The server's metrics, recorded by REST, gRPC, the batchers and warm-up."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        common = {"registry": self.registry}
        self._requests = prometheus_client.Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            **common,
        )
        self._latency = prometheus_client.Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY,
            **common,
        )
        self._warmup_records = prometheus_client.Counter(
            ":tensorflow:serving:model_warmup_records_read",
            "Total number of warmup records read during model warmup.",
            ["model_path", "status"],
            **common,
        )
        self._warmup = prometheus_client.Histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_path", "status"],
            buckets=_LATENCY,
            **common,
        )
        self._queuing = prometheus_client.Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ["thread_pool_name"],
            buckets=_QUEUING,
            **common,
        )
        self._batch = prometheus_client.Histogram(
            ":mnist_convnet:batching:batch_size",
            "Rows in each merged model call.",
            ["model_name", "signature_name"],
            buckets=_BATCH,
            **common,
        )
        self._queued = prometheus_client.Gauge(
            ":mnist_convnet:batching:queued_rows",
            "Rows waiting in the batching queue after the last batch was taken.",
            ["model_name", "signature_name"],
            **common,
        )

    def request(
        self, model_name: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        """One request answered; like TF Serving, latency only for the ones that succeeded."""
        self._requests.labels(model_name, status).inc()
        if status == "OK":
            self._latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def warmup(self, model_path: str, status: str, seconds: float, records: int) -> None:
        if records:
            self._warmup.labels(model_path, status).observe(seconds * 1e6)
            self._warmup_records.labels(model_path, status).inc(records)

    def batch_observer(self, model_name: str, signature_name: str):
        """The ``Batcher``'s observer for one model's signature."""
        batch = self._batch.labels(model_name, signature_name)
        queued = self._queued.labels(model_name, signature_name)
        queuing = self._queuing.labels(f"{model_name}/{signature_name}")

        def observe(rows: int, waited: float, still_queued: int) -> None:
            batch.observe(rows)
            queuing.observe(waited * 1e6)
            queued.set(still_queued)

        return observe

    def exposition(self) -> bytes:
        """The Prometheus text page, line for line as TF Serving's exporter writes it."""
        lines = []
        for family in self.registry.collect():
            if not family.samples:
                continue  # a metric with no cell yet: TF Serving prints no TYPE line for it
            kind = family.type if family.type in ("counter", "gauge", "histogram") else "untyped"
            lines.append(f"# TYPE {family.name} {kind}")
            for sample in family.samples:
                name = family.name if kind in ("counter", "gauge") else sample.name
                lines.append(f"{name}{{{_labels(sample.labels)}}} {_value(sample)}")
        return ("\n".join(lines) + "\n").encode()


def _labels(labels: dict[str, str]) -> str:
    """``name="value"`` pairs, the value escaped as TF Serving's SanitizeLabelValue does."""
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"') for k, v in labels.items()}
    if "le" in escaped and escaped["le"] != "+Inf":
        escaped["le"] = _six_digits(float(escaped["le"]))
    return ",".join(f'{k}="{v}"' for k, v in escaped.items())


def _value(sample) -> str:
    """Counts as integers; a histogram's sum as absl::StrCat prints a double."""
    if sample.name.endswith("_sum"):
        return _six_digits(sample.value)
    return str(int(sample.value))


def _six_digits(value: float) -> str:
    """absl's StrCat(double): %g with six significant digits (10, 32.4, 1.27482e+06)."""
    return f"{value:.6g}"


def _monitoring_config_class():
    """TF Serving's MonitoringConfig message (monitoring_config.proto, which the
    tensorflow-serving-api wheel does not ship), built from its two-message definition."""
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
    )
    prometheus = file.message_type.add(name="PrometheusConfig")
    field = descriptor_pb2.FieldDescriptorProto
    prometheus.field.add(name="enable", number=1, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=field.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
        label=field.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    )


def read_monitoring_config(path: str | Path) -> str | None:
    """The metrics path a ``--monitoring_config_file`` enables, or None if it enables none."""
    path = Path(path)
    try:
        config = text_format.Parse(path.read_text(), _monitoring_config_class()())
    except OSError as error:
        raise UserError(f"cannot read monitoring config file {path}: {error.strerror}") from None
    except text_format.ParseError as error:
        raise UserError(f"monitoring config file {path}: {error}") from None
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    if prometheus.path and not prometheus.path.startswith("/"):
        raise UserError(f"monitoring config file {path}: the path must start with /")
    return prometheus.path or DEFAULT_PATH
