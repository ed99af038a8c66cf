"""bench/options.py: a round of a variant, in its own process, as JSON."""

from __future__ import annotations

import pytest

from tests.helpers import run_bench


@pytest.mark.slow  # a TensorFlow process training a few steps: ~10 s
def test_a_tiny_round_is_reported_against_the_default(data_dir):
    report = run_bench("options", "--only=default", "--rounds=1", "--steps=3", data_dir=data_dir)
    assert report["steps"] == 3 and report["rounds"] == 1
    default = report["default"]
    assert len(default["ms_per_step"]) == 1 and default["fastest_ms"] > 0
    assert default["fastest_ms"] == default["median_ms"] == default["ms_per_step"][0]
    assert default["fastest_over_default"] == 1.0


@pytest.mark.slow  # two more TensorFlow processes
def test_the_augmented_pipeline_is_timed_on_its_own(data_dir):
    """pipeline and pipeline_augmented: batches produced with nothing training, so whether
    augmentation keeps up with a step is read beside the default's ms per step."""
    report = run_bench(
        "options", "--only=pipeline,pipeline_augmented", "--rounds=1", "--steps=3",
        data_dir=data_dir,
    )  # fmt: skip
    for variant in ("pipeline", "pipeline_augmented"):
        assert len(report[variant]["ms_per_step"]) == 1 and report[variant]["fastest_ms"] > 0
