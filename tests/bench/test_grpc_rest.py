"""bench/grpc_rest.py (`make bench-grpc`): warm-up's worth, gRPC against REST, a hot swap,
on `mnist-convnet serve` processes, as JSON."""

from __future__ import annotations

import pytest

from tests.helpers import run_bench


@pytest.mark.slow  # one server, a worker killed and replaced: ~25 s
def test_a_tiny_run_loads_both_apis_and_swaps_a_version_without_a_failure(exported, data_dir):
    """One server: the smoke run of the load, the hot swap and a worker
    killed under load, which its parent replaces: each client gets answers again, loses
    at most the one request it had in flight, and meanwhile is refused cleanly (a
    connection error), never left hanging or answered with an error."""
    report = run_bench(
        "grpc_rest",
        f"--model_dir={exported.parent}",
        "--only=load",
        "--only=hot_swap",
        "--only=respawn",
        "--seconds=1",
        "--rounds=1",
        "--clients=2",
        data_dir=data_dir,
    )
    assert "first_request" not in report and "first_request_without_warmup" not in report
    assert [(r["api"], r["clients"]) for r in report["load"]] == [("grpc", 2), ("rest", 2)]
    for run in report["load"]:
        assert run["errors"] == 0 and run["requests_per_second"] > 0, run
    assert "soak" not in report
    swap = report["hot_swap"]
    assert swap["failed_requests"] == 0 and swap["requests"] > 0
    assert swap["switch_seconds"] is not None and swap["switch_seconds"] > 0
    assert swap["slowest_request_ms"] > 0
    row = swap["first_request_on_new_version"]
    assert row["ratio"] == pytest.approx(row["first_ms"] / row["warm_median_ms"], rel=0.02)
    respawn = report["respawn"]
    assert respawn["worker_replaced"] and respawn["state_after"] == "AVAILABLE"
    for api in ("rest", "grpc"):
        seen = respawn[api]
        assert seen["back_seconds"] is not None and seen["other_failures"] == [], (api, seen)
        assert seen["lost_in_flight"] <= 1, (api, seen)


@pytest.mark.slow  # two server starts, each TensorFlow's import, a load and a warm-up: ~30 s
def test_first_requests_are_timed_with_and_without_warm_up_beside_an_idle_one(exported, data_dir):
    report = run_bench(
        "grpc_rest",
        f"--model_dir={exported.parent}",
        "--only=first_requests",
        "--first_requests=grpc_pixels",  # two server starts; all three kinds take four
        "--starts=1",
        "--idle_seconds=0.2",
        data_dir=data_dir,
    )
    for key in ("first_request", "first_request_without_warmup"):
        assert set(report[key]) == {"grpc_pixels"}, key
        (row,) = report[key]["grpc_pixels"]["starts"]
        # of rounded milliseconds, hence the tolerance
        assert row["ratio"] == pytest.approx(row["first_ms"] / row["warm_median_ms"], rel=0.02)
        assert row["after_idle_ratio"] == pytest.approx(
            row["after_idle_ms"] / row["warm_median_ms"], rel=0.02
        )
        assert report[key]["grpc_pixels"]["median_ratio"] == row["ratio"]
    assert "load" not in report and "hot_swap" not in report
