"""``make bench``: our loop and keras' ``model.fit`` trained side by side, in one run.

Three measurements: our loop with tape gradients, our loop with the hand-written
backprop (``--gradients=manual``), and the keras.io ``model.fit`` recipe. Each runs in a fresh process (no shared caches, graphs or thread pools), one
after the other on the same machine and data. The machine is shared and noisy, so the
number to quote is the *ratio* of the two, measured in the same run, not either
absolute time. The first epoch (tracing, cache filling) is reported but left out of
the steady-state figures.

Writes ``bench/results.json`` and prints it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

flags.DEFINE_integer("epochs", 15, "Epochs per measurement.")
flags.DEFINE_string("out", "bench/results.json", "Where to write the results.")

ORDER = ("ours", "ours_manual", "fit")


def _run(which: str, epochs: int) -> dict:
    command = [sys.executable, "-m", "bench.measure", which, f"--epochs={epochs}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"bench: {which} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def _summary(result: dict) -> dict:
    seconds = result["epoch_seconds"]
    steady = seconds[1:] or seconds
    per_epoch = statistics.mean(steady)
    return {
        "first_epoch_seconds": round(seconds[0], 2),
        "seconds_per_epoch": round(per_epoch, 2),
        "median_seconds_per_epoch": round(statistics.median(steady), 2),
        "images_per_second": round(result["images_per_epoch"] / per_epoch, 1),
        "test_accuracy": round(result["test_accuracy"], 4),
        "test_loss": round(result["test_loss"], 4),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
    }


def main(argv: list[str]) -> None:
    del argv
    epochs = flags.FLAGS.epochs
    results = {which: _summary(_run(which, epochs)) for which in ORDER}
    ours, manual, fit = results["ours"], results["ours_manual"], results["fit"]
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "epochs": epochs,
        **results,
        "ratio_ours_over_fit_seconds_per_epoch": round(
            ours["seconds_per_epoch"] / fit["seconds_per_epoch"], 3
        ),
        "ratio_manual_over_fit_seconds_per_epoch": round(
            manual["seconds_per_epoch"] / fit["seconds_per_epoch"], 3
        ),
        "ratio_manual_over_tape_seconds_per_epoch": round(
            manual["seconds_per_epoch"] / ours["seconds_per_epoch"], 3
        ),
        "accuracy_difference_points": round(
            100 * (ours["test_accuracy"] - fit["test_accuracy"]), 2
        ),
    }
    Path(flags.FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
    Path(flags.FLAGS.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
