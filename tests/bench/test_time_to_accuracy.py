"""bench/time_to_accuracy.py: fit and the fast recipe, a process per (run, seed), cut to a
few steps (one seed); the summary against fit's median and each run's split, as JSON."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_bench


@pytest.mark.slow  # fit's training process: ~13 s
def test_a_tiny_run_of_fit_stops_at_the_target_and_reports_its_split(data_dir):
    """One training process."""
    report = run_bench(
        "time_to_accuracy",
        "--runs=fit",
        "--seeds=0",
        "--score=validation",
        "--fit_epochs=1",
        "--max_steps_per_epoch=2",
        "--target=0",
        data_dir=data_dir,
    )
    (run,) = report["runs"]
    assert (run["run"], run["seed"]) == ("fit", 0)
    assert [p["epoch"] for p in run["curve"]] == [1] and 0 <= run["curve"][0]["accuracy"] <= 1
    assert run["split"]["startup"] >= 0 and run["split"]["first_epoch"] > 0
    summary = report["summary"]
    assert list(summary) == ["fit"]  # no fast run, no ratio
    assert summary["fit"]["median_seconds"] == summary["fit"]["seconds_to_target"][0] > 0


@pytest.mark.slow  # the fast recipe's process: ~15 s
def test_a_tiny_fast_run_is_scored_every_half_epoch_and_splits_its_time(data_dir):
    report = run_bench(
        "time_to_accuracy",
        "--runs=fast",
        "--seeds=0",
        "--score=validation",
        "--max_steps_per_epoch=4",
        "--trial=" + json.dumps({"epochs": 2, "steps_per_call": 2}),
        "--target=0",  # every score reaches it, and the fast run trains on
        data_dir=data_dir,
    )
    assert report["score"] == "validation" and report["target"] == 0
    (run,) = report["runs"]
    assert (run["run"], run["seed"]) == ("fast", 0)
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in run["curve"])
    assert run["split"]["startup"] >= 0 and run["split"]["first_epoch"] > 0
    assert run["split"]["rest"] == 0  # reached within the first epoch
    assert [p["epoch"] for p in run["curve"]] == [0.5, 1, 1.5, 2]  # trains all its epochs
    summary = report["summary"]
    assert list(summary) == ["fast"]  # no fit run, no ratio
    assert summary["fast"]["median_seconds"] == summary["fast"]["seconds_to_target"][0]
