"""Train the keras.io convnet with our loop, evaluate it on the test split, export it.

    python -m mnist_convnet.train --epochs=15 --manual_dir=../shared/datasets/mnist
    mnist-convnet train --epochs=1

The run ends by printing one JSON line (test accuracy and loss, epochs, seconds, the
SavedModel folder written), so scripts and benchmarks can read its result.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out

import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import app, flags, logging  # noqa: E402

import tensorflow as tf  # noqa: E402

from mnist_convnet import (  # noqa: E402
    common_flags, data, distribute, export, interrupt, loop, model, step,
)  # fmt: skip
from mnist_convnet.errors import UserError, exit_on_user_error  # noqa: E402

DEFAULT_EXPORT_DIR = common_flags.DEFAULT_EXPORT_DIR


def define_flags() -> None:
    """The training flags; every one has a default that reproduces the keras.io recipe."""
    flags.DEFINE_enum("model", "keras_convnet", list(model.MODELS), "Which network to train.")
    flags.DEFINE_enum(
        "gradients",
        "tape",
        list(step.GRADIENTS),
        "tape: backpropagate our dL/dz with tf.GradientTape; manual: every layer's "
        "gradient from the article's hand-written derivations (mnist_convnet/backprop.py).",
    )
    flags.DEFINE_integer("epochs", 15, "Passes over the 54,000 training images.", lower_bound=1)
    flags.DEFINE_integer("batch_size", 128, "Images per training step.", lower_bound=1)
    flags.DEFINE_float("learning_rate", 1e-3, "Adam's step size (its start, with a schedule).")
    flags.DEFINE_enum("lr_schedule", "constant", list(loop.LR_SCHEDULES),
                      "constant: the keras.io recipe; cosine: decay to 0 over the run.")  # fmt: skip
    flags.DEFINE_integer("seed", 0, "Seeds weights, dropout and data order.", lower_bound=0)
    flags.DEFINE_bool(
        "deterministic", True, "Turn on TF op determinism: same seed, same final weights."
    )
    flags.DEFINE_integer(
        "max_steps_per_epoch", None, "Cut epochs short (smoke tests).", lower_bound=1
    )
    common_flags.define_data_flags()
    flags.DEFINE_string(
        "export_dir", DEFAULT_EXPORT_DIR, "SavedModel base folder; versions 1/, 2/... go inside."
    )
    flags.DEFINE_string(
        "checkpoint_dir",
        None,
        "Training checkpoints (default: <export dir's parent>/checkpoints/<its name>). "
        "A run finds its own checkpoints here and resumes from the latest.",
    )
    flags.DEFINE_bool("fresh", False, "Start over, ignoring checkpoints in --checkpoint_dir "
                      "(they are replaced as new ones are written).")  # fmt: skip
    flags.DEFINE_integer(
        "checkpoint_every_steps", 0,
        "Also checkpoint every N steps within an epoch (0: at epoch ends only). A checkpoint "
        "is always written on SIGTERM/SIGINT before exiting.", lower_bound=0,
    )  # fmt: skip
    flags.DEFINE_enum(
        "precision", "float32", list(model.PRECISIONS),
        "float32, or mixed_bfloat16: layers compute in bfloat16, weights stay float32 "
        "(measured slower on CPUs without AVX512_BF16; see the README).",
    )  # fmt: skip
    flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step (measured slower "
                      "on this project's CPU; see the README).")  # fmt: skip
    flags.DEFINE_enum(
        "strategy", "default", list(distribute.STRATEGIES),
        "tf.distribute strategy: default (one device), mirrored (all local GPUs, or "
        "--logical_cpus CPU devices), multi_worker (one process per machine; set TF_CONFIG).",
    )  # fmt: skip
    flags.DEFINE_integer(
        "logical_cpus", 0,
        "Split the CPU into this many logical devices (to try --strategy=mirrored without "
        "GPUs); 0 leaves it whole.", lower_bound=0,
    )  # fmt: skip
    flags.DEFINE_integer(
        "steps_per_call", 10,
        "Training steps per tf.function call: Python's per-step work (metrics, progress, "
        "signal and checkpoint checks) then runs once per call. Same weights; measured "
        "faster than 1 on this project's CPU (see the README).", lower_bound=1,
    )  # fmt: skip
    flags.DEFINE_integer("keep_checkpoints", 3, "How many recent checkpoints to keep.",
                         lower_bound=1)  # fmt: skip
    # absl.logging already defines --log_dir (for log files it writes only when asked to);
    # we reuse that flag for TensorBoard rather than invent a second name for a log folder.
    flags.FLAGS.set_default("log_dir", "logs")
    flags.register_validator(
        "learning_rate", lambda v: v > 0, message="--learning_rate must be positive"
    )


def _check_writable(folder: str) -> None:
    """Fails before training, not after it, when a result could not be saved."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # A name of its own: every worker of a multi-worker run checks the same folders
        # at the same moment, and one fixed name would let one delete another's probe.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise UserError(f"cannot write to {folder}: {error.strerror}") from None


def run(
    flags_obj: flags.FlagValues,
    datasets_override: data.Datasets | None = None,
    strategy_override: tf.distribute.Strategy | None = None,
) -> dict:
    """Trains, evaluates and exports as ``flags_obj`` says; returns the run's summary.

    ``datasets_override`` and ``strategy_override`` let tests and benchmarks pass data they
    already loaded and a strategy they already made.
    """
    if flags_obj.logical_cpus:
        distribute.split_cpu(flags_obj.logical_cpus)
    strategy = strategy_override or distribute.make_strategy(flags_obj.strategy)
    checkpoint_dir = flags_obj.checkpoint_dir or common_flags.checkpoint_dir_for(
        flags_obj.export_dir
    )
    for folder in (flags_obj.export_dir, checkpoint_dir):
        _check_writable(folder)
    if datasets_override is not None:
        datasets = datasets_override
    else:
        datasets = common_flags.load_datasets(flags_obj)

    config = loop.Config(
        model=flags_obj.model,
        gradients=flags_obj.gradients,
        epochs=flags_obj.epochs,
        batch_size=flags_obj.batch_size,
        learning_rate=flags_obj.learning_rate,
        lr_schedule=flags_obj.lr_schedule,
        precision=flags_obj.precision,
        jit_compile=flags_obj.jit_compile,
        seed=flags_obj.seed,
        deterministic=flags_obj.deterministic,
        max_steps_per_epoch=flags_obj.max_steps_per_epoch,
        checkpoint_every_steps=flags_obj.checkpoint_every_steps,
        keep_checkpoints=flags_obj.keep_checkpoints,
        steps_per_call=flags_obj.steps_per_call,
    )
    log_dir = None
    if flags_obj.log_dir:
        log_dir = str(Path(flags_obj.log_dir) / time.strftime("%Y%m%d-%H%M%S"))
    with interrupt.StopOnSignal() as stop_requested:
        result = loop.train_and_evaluate(
            config, datasets, log_dir, checkpoint_dir, flags_obj.fresh, stop_requested, strategy
        )
    version_dir = None
    if distribute.is_chief(strategy):  # other workers trained the same weights
        version_dir = export.export_saved_model(result.model, flags_obj.export_dir)
        logging.info("exported SavedModel to %s", version_dir)
    return {
        "test_accuracy": result.test["accuracy"],
        "test_loss": result.test["loss"],
        "val_accuracy": result.history[-1]["val_accuracy"],
        "model": config.model,
        "gradients": config.gradients,
        "batch_size": config.batch_size,
        "lr_schedule": config.lr_schedule,
        "epochs": config.epochs,
        "train_seconds": round(result.train_seconds, 2),
        "seconds_per_epoch": round(result.train_seconds / config.epochs, 2),
        "export_dir": str(version_dir) if version_dir else None,
        "strategy": flags_obj.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "log_dir": log_dir,
        "seed": config.seed,
    }


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        summary = run(flags.FLAGS)
    print(json.dumps(summary), flush=True)


define_flags()

if __name__ == "__main__":
    app.run(main)
