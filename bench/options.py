"""The speed options of the issue that are not flags of ``bench.run``, measured side by side.

    python -m bench.options                # all variants, 3 rounds of 150 steps each
    python -m bench.options --only=default,steps_per_call_1 --rounds=5

Each variant trains ``--steps`` steps of the default recipe (keras_convnet, batch 128,
deterministic, float32) in a fresh process, after an epoch of the same length that traces
the step and fills the data cache; only that second stretch is timed. The variants take
turns, round after round, so the slow spells of this shared machine (epochs here take
either ~20 s or ~41 s) fall on all of them. Reported per variant: the fastest and the
median ms per step over the rounds, and its fastest over the default's fastest.

    default            the loop as ``make train`` runs it (10 steps per tf.function call)
    steps_per_call_1   ``--steps_per_call=1``: one step per call, as ``model.fit`` does
    nondeterministic   ``--nodeterministic``: no TF op determinism
    threads_2x1        2 intra-op threads, 1 inter-op thread (TF picks 2 and 2 here)
    threads_1x2        1 intra-op thread, 2 inter-op threads
    onednn_off         ``TF_ENABLE_ONEDNN_OPTS=0``: Eigen's kernels instead of oneDNN's
    no_cache           the default *without* ``data.load``'s in-memory cache: every
                       epoch reads and decodes the tfds files again
    no_prefetch        the default *without* ``prefetch`` in ``data.train_batches``
    augmented          the default with ``--augment=1 --deslant`` (the augmented recipe's
                       batches and its Deslant layer)
    pipeline           no training: ms to produce one batch of 128 by ``data.train_batches``
    pipeline_augmented the same with ``augment=1``: whether augmentation keeps up with a
                       training step on its own (compare with ``default``'s ms per step)

The precision and XLA options are flags of the loop and measured by ``bench.run``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from absl import app, flags

flags.DEFINE_list("only", None, "Variants to run (default: all).")
flags.DEFINE_integer("rounds", 3, "Rounds; each runs every variant once.")
flags.DEFINE_integer("steps", 150, "Timed training steps per variant and round.")

VARIANTS: dict[str, dict] = {
    "default": {},
    "steps_per_call_1": {"steps_per_call": 1},
    "nondeterministic": {"deterministic": False},
    "threads_2x1": {"threads": (2, 1)},
    "threads_1x2": {"threads": (1, 2)},
    "onednn_off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "no_cache": {"cache": False},
    "no_prefetch": {"prefetch": False},
    "augmented": {"augment": 1.0, "deslant": True},
    "pipeline": {"pipeline": 0.0},
    "pipeline_augmented": {"pipeline": 1.0},
}
flags.DEFINE_enum("measure", None, list(VARIANTS), "Internal: measure one variant here.")


def measure(variant: str, steps: int) -> float:
    """Seconds per step of ``variant`` in this process (which must be fresh)."""
    options = VARIANTS[variant]
    import tensorflow as tf

    if "threads" in options:
        intra, inter = options["threads"]
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    from mnist_convnet.training import data, loop
    from mnist_convnet.training.config import Config

    datasets = data.load(None, data.default_manual_dir())
    if "pipeline" in options:
        return _pipeline_seconds(datasets, options["pipeline"], steps)
    if not options.get("cache", True):
        datasets = _uncached(datasets)
    if not options.get("prefetch", True):
        original = data.train_batches
        data.train_batches = lambda *args: _without_prefetch(original(*args))
    config = Config(
        epochs=2,
        max_steps_per_epoch=steps,
        verbose=False,
        deterministic=options.get("deterministic", True),
        steps_per_call=options.get("steps_per_call", Config.steps_per_call),
        augment=options.get("augment"),
        deslant=options.get("deslant"),
    )
    result = loop.train_and_evaluate(config, datasets)
    return result.history[1]["epoch_seconds"] / steps


def _pipeline_seconds(datasets, augment: float, steps: int) -> float:
    """Seconds per batch of 128 that ``data.train_batches`` yields with nothing consuming
    them but this loop, after one epoch's worth of the same length warmed it up."""
    import time

    from mnist_convnet.training import data

    def batches(epoch: int):
        return data.train_batches(datasets.train, datasets.num_train, 128, epoch, 0, augment)

    for _ in batches(1).take(steps):
        pass
    start = time.perf_counter()
    for _ in batches(2).take(steps):
        pass
    return (time.perf_counter() - start) / steps


def _uncached(datasets):
    """The same splits, decoded and scaled on every pass instead of once."""
    import dataclasses

    import tensorflow_datasets as tfds

    from mnist_convnet.training import data

    train, validation, test = data.scaled_splits(tfds.builder("mnist"))
    return dataclasses.replace(datasets, train=train, validation=validation, test=test)


def _without_prefetch(batches):
    """``batches`` with its final ``prefetch`` taken off (its input dataset)."""
    assert type(batches).__name__.endswith("PrefetchDataset"), type(batches)
    return batches._input_dataset  # a measurement of the pipeline without it


def _run(variant: str, steps: int) -> float:
    env = dict(os.environ, **VARIANTS[variant].get("env", {}))
    command = [sys.executable, "-m", "bench.options", f"--measure={variant}", f"--steps={steps}"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"bench.options: {variant} failed:\n{done.stderr[-3000:]}")
    return float(lines[-1].removeprefix("RESULT "))


def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    if f.measure:
        print(f"RESULT {measure(f.measure, f.steps)}", flush=True)
        return
    variants = f.only or list(VARIANTS)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise app.UsageError(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for round_ in range(f.rounds):
        for variant in variants:
            seconds[variant].append(_run(variant, f.steps))
            print(
                f"round {round_ + 1}: {variant} {1000 * seconds[variant][-1]:.2f} ms/step",
                file=sys.stderr,
                flush=True,
            )
    base = min(seconds.get("default") or [float("nan")])
    report = {
        v: {
            "ms_per_step": [round(1000 * s, 2) for s in times],
            "fastest_ms": round(1000 * min(times), 2),
            "median_ms": round(1000 * statistics.median(times), 2),
            "fastest_over_default": round(min(times) / base, 3),
        }
        for v, times in seconds.items()
    }
    print(json.dumps({"steps": f.steps, "rounds": f.rounds, **report}, indent=2))


if __name__ == "__main__":
    app.run(main)
