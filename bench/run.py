"""``make bench``: our loop and keras' ``model.fit`` trained side by side, in one run.

Training: our loop with tape gradients (ten steps per tf.function call, its default; and
``--steps_per_call=1``, one step per call as ``model.fit`` does), our loop with the
hand-written backprop (``--gradients=manual``), and the keras.io ``model.fit`` recipe, each
with its FLOPs per
image (``bench/flops.py``), achieved GFLOP/s, fraction of the CPU's FP32 peak and peak
RSS. Inference: the SavedModel ``ours`` trained, at batch 1, 32 and 1024, and its TF Lite
float32 and int8 conversions, one image at a time in LiteRT (p50/p99 latency). Each
measurement runs in a fresh process (no shared caches, graphs or thread pools), one
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
import tempfile
import time
from pathlib import Path

from absl import app, flags

from bench import flops

flags.DEFINE_integer("epochs", 15, "Epochs per training measurement.")
flags.DEFINE_string("out", "bench/results.json", "Where to write the results.")
flags.DEFINE_integer(
    "max_steps_per_epoch", None, "Cut each epoch to this many steps (a smoke run; default: all)."
)
flags.DEFINE_float("inference_seconds", 3.0, "Seconds of SavedModel calls per batch size.")
flags.DEFINE_integer("lite_runs", 2000, "Timed LiteRT calls per .tflite file.")
flags.DEFINE_list(
    "only",
    list(("ours", "ours_1step", "ours_manual", "fit", "inference")),
    "Which measurements to run (inference needs ours); also ours_bf16 "
    "(--precision=mixed_bfloat16) and ours_xla (--jit_compile).",
)

TRAINING = ("ours", "ours_1step", "ours_manual", "ours_bf16", "ours_xla", "fit")


class MeasurementFailed(Exception):
    """One measurement's process failed; the others still run and are reported."""


def _run(which: str, *args: str) -> dict:
    command = [sys.executable, "-m", "bench.measure", which, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"bench: {which} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        raise MeasurementFailed(last)
    return json.loads(lines[-1].removeprefix("RESULT "))


def _summary(result: dict, peak_gflops: float) -> dict:
    seconds = result["epoch_seconds"]
    steady = seconds[1:] or seconds
    per_epoch = statistics.mean(steady)
    images_per_second = result["images_per_epoch"] / per_epoch
    gflops = result["training_flops_per_image"] * images_per_second / 1e9
    return {
        "epoch_seconds": [round(x, 2) for x in seconds],  # throttling shows up here
        "first_epoch_seconds": round(seconds[0], 2),
        "seconds_per_epoch": round(per_epoch, 2),
        "median_seconds_per_epoch": round(statistics.median(steady), 2),
        "images_per_second": round(images_per_second, 1),
        "training_flops_per_image": result["training_flops_per_image"],
        "achieved_gflops": round(gflops, 2),
        "fraction_of_fp32_peak": round(gflops / peak_gflops, 4),
        "test_accuracy": round(result["test_accuracy"], 4),
        "test_loss": round(result["test_loss"], 4),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
    }


def _ratio(results: dict, a: str, b: str) -> float | None:
    if a in results and b in results:
        return round(results[a]["seconds_per_epoch"] / results[b]["seconds_per_epoch"], 3)
    return None


def _table(report: dict) -> str:
    rows = ["             s/epoch  images/s  GFLOP/s  % peak  test acc  peak RSS MB"]
    for which in TRAINING:
        if which in report:
            r = report[which]
            rows.append(
                f"{which:12s} {r['seconds_per_epoch']:7.2f} {r['images_per_second']:9.0f} "
                f"{r['achieved_gflops']:8.2f} {100 * r['fraction_of_fp32_peak']:6.1f}% "
                f"{100 * r['test_accuracy']:7.2f}% {r['peak_rss_mb']:11.0f}"
            )
    if "inference" in report:
        for batch, r in report["inference"]["saved_model"].items():
            rows.append(f"SavedModel {batch:10s} {r['images_per_second']:10.0f} images/s")
        for kind, r in report["inference"]["tflite_single_image"].items():
            rows.append(f"LiteRT {kind:8s} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")
    return "\n".join(rows)


def main(argv: list[str]) -> None:
    del argv
    epochs, only = flags.FLAGS.epochs, flags.FLAGS.only
    cut = flags.FLAGS.max_steps_per_epoch
    training_flags = [f"--epochs={epochs}", *([f"--max_steps_per_epoch={cut}"] if cut else [])]
    peak = flops.cpu_peak_gflops()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for which in TRAINING:
            if which in only:
                # ours exports the model that inference measures, only when it is measured
                wanted = which == "ours" and "inference" in only
                extra = [f"--export_dir={tmp}/model"] if wanted else []
                try:
                    result = _run(which, *training_flags, *extra)
                    results[which] = _summary(result, peak["peak_gflops"])
                except MeasurementFailed as error:
                    results[f"{which}_failed"] = str(error)
        if "inference" in only:
            if "ours" not in results:
                sys.exit("bench: inference measures the model that ours trains; add ours")
            results["inference"] = _run(
                "inference",
                f"--model_dir={tmp}/model",
                f"--seconds={flags.FLAGS.inference_seconds}",
                f"--lite_runs={flags.FLAGS.lite_runs}",
            )
            results["inference"].pop("which", None)
            for key in ("peak_rss_mb", "images_per_epoch"):
                results["inference"].pop(key, None)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "cpu_peak": peak,
        "epochs": epochs,
        **results,
        "ratio_ours_over_fit_seconds_per_epoch": _ratio(results, "ours", "fit"),
        "ratio_manual_over_fit_seconds_per_epoch": _ratio(results, "ours_manual", "fit"),
        "ratio_manual_over_tape_seconds_per_epoch": _ratio(results, "ours_manual", "ours"),
        "ratio_1step_over_fit_seconds_per_epoch": _ratio(results, "ours_1step", "fit"),
        "ratio_ours_over_1step_seconds_per_epoch": _ratio(results, "ours", "ours_1step"),
        "ratio_bf16_over_fp32_seconds_per_epoch": _ratio(results, "ours_bf16", "ours"),
        "ratio_xla_over_plain_seconds_per_epoch": _ratio(results, "ours_xla", "ours"),
    }
    if "ours" in results and "fit" in results:
        report["accuracy_difference_points"] = round(
            100 * (results["ours"]["test_accuracy"] - results["fit"]["test_accuracy"]), 2
        )
    Path(flags.FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
    Path(flags.FLAGS.out).write_text(json.dumps(report, indent=2) + "\n")
    print(_table(report), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
