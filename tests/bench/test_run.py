"""bench/run.py (`make bench`): our loop, fit and inference, each through bench/measure.py
in its own process, cut to a few steps; the report and its ratios as JSON."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_bench

# A process per measurement, each starting TensorFlow (and MNIST, or a server): ~20-50 s.
pytestmark = pytest.mark.slow


def test_a_tiny_make_bench_measures_each_way_and_writes_the_report(data_dir, tmp_path):
    out = tmp_path / "results.json"
    report = run_bench(
        "run",
        "--only=ours,fit,inference",
        "--epochs=2",
        "--max_steps_per_epoch=3",
        "--inference_seconds=0.05",
        "--lite_runs=3",
        f"--out={out}",
        data_dir=data_dir,
    )
    assert json.loads(out.read_text()) == report
    assert report["epochs"] == 2
    for which in ("ours", "fit"):
        row = report[which]
        assert len(row["epoch_seconds"]) == 2, which
        assert row["training_flops_per_image"] == 14_256_384  # bench/flops.py's hand count
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["peak_rss_mb"] > 100
        assert row["fraction_of_fp32_peak"] > 0
    assert report["ratio_ours_over_fit_seconds_per_epoch"] > 0
    assert report["ratio_manual_over_fit_seconds_per_epoch"] is None  # not measured
    inference = report["inference"]
    assert set(inference["saved_model"]) == {"batch_1", "batch_32", "batch_1024"}
    assert all(r["images_per_second"] > 0 for r in inference["saved_model"].values())
    for kind in ("float32", "int8"):
        assert inference["tflite_single_image"][kind]["bytes"] > 10_000
        assert inference["tflite_single_image"][kind]["p50_ms"] > 0
