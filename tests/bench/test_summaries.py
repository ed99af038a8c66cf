"""bench/summaries.py: the medians and ratios the bench reports print, on made-up numbers."""

from __future__ import annotations

from bench import summaries


def test_a_first_request_is_held_against_the_median_of_the_ones_after_it():
    row = summaries.first_against_warm(9.0, [2.0, 3.0, 100.0])
    assert row == {"first_ms": 9.0, "warm_median_ms": 3.0, "ratio": 3.0}


def test_first_requests_over_starts_are_summed_up_by_their_median_ratios():
    """bench/grpc_rest.py's first requests, a row a server start: the rows kept in order,
    the medians of both ratios."""
    rows = [{"ratio": r, "after_idle_ratio": a} for r, a in ((3.1, 1.0), (1.2, 2.6), (1.5, 1.4))]
    summed = summaries.over_starts(rows)
    assert summed == {"starts": rows, "median_ratio": 1.5, "median_after_idle_ratio": 1.4}


def test_the_summary_holds_each_fast_seed_against_fits_median():
    """bench/time_to_accuracy.py's summary: medians over the seeds that reached the target
    (None for one that did not), and each fast seed's time over fit's median, both clocks."""

    def run(name: str, seed: int, seconds: float | None, startup: float) -> dict:
        split = {"startup": startup, "first_epoch": 1.0}
        return {"run": name, "seed": seed, "seconds_to_target": seconds, "split": split,
                "final_accuracy": 0.99}  # fmt: skip

    results = [run("fit", 0, 30.0, 2.0), run("fit", 1, 40.0, 2.0), run("fit", 2, None, 2.0)]
    results += [run("fast", 0, 10.0, 1.0), run("fast", 1, None, 1.0)]
    summary = summaries.time_to_target(results, ["fit", "fast"])
    assert summary["fit"]["seeds"] == [0, 1, 2] and summary["fit"]["median_seconds"] == 35.0
    assert summary["fit"]["median_wall"] == 37.0
    assert summary["fast_over_fit_median"] == [round(10 / 35, 3), None]
    assert summary["fast_over_fit_wall"] == [round(11 / 37, 3), None]
    assert list(summaries.time_to_target(results, ["fast"])) == ["fast"]


def test_todays_server_is_held_against_the_baseline_round_by_round():
    """bench/load.py --baseline: per payload and client count, the median over rounds of
    today's req/s and p99 over the baseline's in the same round (not over the pooled runs)."""

    def runs(*rows: tuple[int, float, float]) -> dict:
        return {"runs": [{"clients": c, "req_per_s": r, "p99_ms": p} for c, r, p in rows]}

    rounds = [
        {"baseline/pixels": runs((32, 1000.0, 30.0)), "after/pixels": runs((32, 500.0, 60.0))},
        {"baseline/pixels": runs((32, 800.0, 40.0)), "after/pixels": runs((32, 880.0, 36.0))},
        {"baseline/pixels": runs((32, 400.0, 50.0)), "after/pixels": runs((32, 480.0, 45.0))},
    ]
    summed = summaries.versus_baseline(rounds, ["baseline", "after"])
    assert summed == {"after/pixels/c32": {"req_per_s_ratio": 1.1, "p99_ratio": 0.9}}


def test_a_run_with_no_answers_has_no_ratio():
    rounds = [
        {
            "baseline/b64_png": {"runs": [{"clients": 1, "req_per_s": 0.0, "p99_ms": None}]},
            "after/b64_png": {"runs": [{"clients": 1, "req_per_s": 10.0, "p99_ms": 5.0}]},
        }
    ]
    summed = summaries.versus_baseline(rounds, ["baseline", "after"])
    assert summed == {"after/b64_png/c1": {"req_per_s_ratio": None, "p99_ratio": None}}
