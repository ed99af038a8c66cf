"""The medians and ratios the bench reports print, free of flags and of TensorFlow, so
that tests check them on made-up numbers in-process (a bench module defines absl flags
at import, which would clash with the commands' in a test process).
"""

from __future__ import annotations

import statistics


def round_or_none(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def first_against_warm(first_ms: float, warm_ms: list[float]) -> dict:
    """A first request's milliseconds against the median of the ones after it."""
    warm = statistics.median(warm_ms)
    return {
        "first_ms": round(first_ms, 2),
        "warm_median_ms": round(warm, 2),
        "ratio": round(first_ms / warm, 2),
    }


def over_starts(rows: list[dict]) -> dict:
    """One kind's rows, a row a server start, with the medians of their two ratios."""
    return {
        "starts": rows,
        "median_ratio": round(statistics.median(r["ratio"] for r in rows), 2),
        "median_after_idle_ratio": round(statistics.median(r["after_idle_ratio"] for r in rows), 2),
    }


def time_to_target(results: list[dict], runs: list[str]) -> dict:
    """Each run's summary over its seeds, and the fast recipe's times over fit's median."""
    summary = {run: _run_summary([r for r in results if r["run"] == run]) for run in runs}
    if "fit" in summary and "fast" in summary:
        summary["fast_over_fit_median"] = _over(summary["fast"], summary["fit"], "seconds")
        summary["fast_over_fit_wall"] = _over(summary["fast"], summary["fit"], "wall")
    return summary


def _run_summary(runs: list[dict]) -> dict:
    """A run's seconds to the target per seed and their median, on the training clock and
    on the wall (start-up added); None where a seed never reached it."""
    seconds = [r["seconds_to_target"] for r in runs]
    wall = [s + r["split"]["startup"] if s is not None else None for s, r in zip(seconds, runs)]
    reached = lambda xs: [x for x in xs if x is not None]
    return {
        "seeds": [r["seed"] for r in runs],
        "seconds_to_target": seconds,
        "median_seconds": statistics.median(reached(seconds)) if reached(seconds) else None,
        "wall_seconds_to_target": [round_or_none(w) for w in wall],
        "median_wall": statistics.median(reached(wall)) if reached(wall) else None,
        "final_accuracy": [r["final_accuracy"] for r in runs],
        "split": [r["split"] for r in runs],
    }


def _over(fast: dict, fit: dict, clock: str) -> list[float | None]:
    """Each fast seed's time over fit's median (the issue's "a third" is 0.333)."""
    mine = fast["seconds_to_target" if clock == "seconds" else "wall_seconds_to_target"]
    median = fit["median_seconds" if clock == "seconds" else "median_wall"]
    return [round(x / median, 3) if x is not None and median else None for x in mine]
