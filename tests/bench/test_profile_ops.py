"""bench/profile_ops.py: a round of every op of the training step, as JSON."""

from __future__ import annotations

import pytest

from tests.helpers import run_bench


def test_a_tiny_round_times_every_op_and_the_whole_step():
    report = run_bench("profile_ops", "--batch_size=4", "--rounds=2")
    assert report["batch_size"] == 4 and report["rounds"] == 2
    ops = {
        name: row for name, row in report.items() if isinstance(row, dict) and "share_of_sum" in row
    }
    assert len(ops) > 5
    assert sum(row["share_of_sum"] for row in ops.values()) == pytest.approx(1.0, abs=0.01)
    for name in ("whole training step", "sum of the ops"):
        assert report[name]["fastest_ms"] > 0
    assert all(row["fastest_ms"] <= row["median_ms"] for row in ops.values())
