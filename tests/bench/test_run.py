"""bench/run.py (`make bench`): our loop, fit and inference, each through bench/measure.py
in its own process, cut to a few steps; the report and its ratios as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_bench, run_python


def _training_row(row: dict, epochs: int) -> None:
    assert len(row["epoch_seconds"]) == epochs
    assert row["training_flops_per_image"] == 14_256_384  # bench/flops.py's hand count
    assert 0.0 <= row["test_accuracy"] <= 1.0 and row["peak_rss_mb"] > 100
    assert row["fraction_of_fp32_peak"] > 0


def test_the_orchestrator_loads_no_tensorflow_of_its_own():
    """bench/run.py only starts bench/measure.py's processes and reads their JSON: a
    TensorFlow import of its own (~3 s of CPU, bench/flops.py's Keras) bought nothing."""
    done = run_python(
        "-c",
        "import sys, bench.run; print([m for m in ('tensorflow', 'keras') if m in sys.modules])",
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow  # three training processes, an export, two TF Lite conversions: ~40 s
def test_a_tiny_make_bench_times_our_loop_against_fit_and_its_model(data_dir, tmp_path):
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
        _training_row(report[which], epochs=2)
    ratio = report["ours"]["seconds_per_epoch"] / report["fit"]["seconds_per_epoch"]
    assert report["ratio_ours_over_fit_seconds_per_epoch"] == pytest.approx(ratio, abs=1e-3)
    assert report["ratio_manual_over_fit_seconds_per_epoch"] is None  # not measured
    inference = report["inference"]
    assert set(inference["saved_model"]) == {"batch_1", "batch_32", "batch_1024"}
    assert all(r["images_per_second"] > 0 for r in inference["saved_model"].values())
    for kind in ("float32", "int8"):
        assert inference["tflite_single_image"][kind]["bytes"] > 10_000
        assert inference["tflite_single_image"][kind]["p50_ms"] > 0
