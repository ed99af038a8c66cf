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


def versus_baseline(rounds: list[dict], settings: list[str]) -> dict:
    """Each setting's req/s and p99 over the baseline's, per payload and client count: the
    median over rounds of the ratios measured side by side in each round (req/s above 1 and
    p99 below 1 are better than the baseline)."""
    ratios: dict = {}
    for measured in rounds:
        for key, result in measured.items():
            setting, payload = key.split("/", 1)
            if setting == "baseline" or setting not in settings:
                continue
            base_runs = {r["clients"]: r for r in measured[f"baseline/{payload}"]["runs"]}
            for run in result["runs"]:
                base = base_runs[run["clients"]]
                row = ratios.setdefault(f"{key}/c{run['clients']}", {"req_per_s": [], "p99": []})
                row["req_per_s"].append(_ratio(run["req_per_s"], base["req_per_s"]))
                row["p99"].append(_ratio(run["p99_ms"], base["p99_ms"]))
    return {
        key: {f"{what}_ratio": _rounded(_median_or_none(values), 3) for what, values in row.items()}
        for key, row in ratios.items()
    }


def _ratio(mine: float | None, base: float | None) -> float | None:
    return mine / base if mine is not None and base else None


def _rounded(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None
