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
