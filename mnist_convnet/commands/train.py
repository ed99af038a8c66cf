"""Train a network with our loop, evaluate it on the test split, export a SavedModel.

    mnist-convnet train --epochs=15 --manual_dir=../shared/datasets/mnist
    python -m mnist_convnet train --model=lenet5

The run ends by printing one JSON line (test accuracy and loss, epochs, seconds, the
SavedModel folder written), so scripts and benchmarks can read its result.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from absl import app, flags, logging

from mnist_convnet import files
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error

if TYPE_CHECKING:
    import tensorflow as tf

    from mnist_convnet.training import data, loop
    from mnist_convnet.training.config import Config

# distribute.STRATEGIES, named here so that --help needs no TensorFlow (a test keeps them
# the same).
STRATEGIES = ("default", "mirrored", "multi_worker")

shared.define_config_flags()
shared.define_data_flags()
flags.DEFINE_string(
    "export_dir", shared.DEFAULT_EXPORT_DIR, "SavedModel base folder; versions 1/, 2/... go inside."
)
flags.DEFINE_string(
    "checkpoint_dir",
    None,
    "Training checkpoints (default: <export dir's parent>/checkpoints/<its name>). A run finds "
    "its own checkpoints here and resumes from the latest.",
)
flags.DEFINE_bool(
    "fresh",
    False,
    "Start over, ignoring checkpoints in --checkpoint_dir (they are replaced as new ones "
    "are written).",
)
flags.DEFINE_enum(
    "strategy",
    "default",
    list(STRATEGIES),
    "tf.distribute strategy: default (one device), mirrored (all local GPUs, or --logical_cpus "
    "CPU devices), multi_worker (one process per machine; set TF_CONFIG).",
)
flags.DEFINE_integer(
    "logical_cpus",
    0,
    "Split the CPU into this many logical devices (to try --strategy=mirrored without GPUs); "
    "0 leaves it whole.",
    lower_bound=0,
)
shared.define_log_dir_flag("logs", "TensorBoard folder; each run writes a timestamped subfolder.")


def _check_writable(folder: str) -> None:
    """Fails before training, not after it, when a result could not be saved."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # A name of its own: every worker of a multi-worker run checks the same folders
        # at the same moment, and one fixed name would let one delete another's probe.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise files.cannot_write(folder, error) from None


def check(flags_obj: flags.FlagValues) -> tuple[Config, str]:
    """The run's Config and checkpoint folder, with the result folders found writable:
    everything a mistyped command gets wrong, known without TensorFlow (commands/main.py
    calls this before loading it; ``run`` calls it again for the Python API)."""
    config = shared.config_from_flags(flags_obj)
    checkpoint_dir = shared.run_checkpoint_dir(flags_obj)
    for folder in (flags_obj.export_dir, checkpoint_dir):
        _check_writable(folder)
    return config, checkpoint_dir


def run(
    flags_obj: flags.FlagValues,
    datasets_override: data.Datasets | None = None,
    strategy_override: tf.distribute.Strategy | None = None,
) -> dict:
    """Trains, evaluates and exports as ``flags_obj`` says; returns the run's summary.

    ``datasets_override`` and ``strategy_override`` let tests and benchmarks pass data they
    already loaded and a strategy they already made.
    """
    config, checkpoint_dir = check(flags_obj)
    from mnist_convnet.export import saved_model
    from mnist_convnet.training import distribute, interrupt, loop  # TensorFlow: not for --help

    if flags_obj.logical_cpus:  # before anything starts TensorFlow's devices
        distribute.split_cpu(flags_obj.logical_cpus)
    strategy = strategy_override or distribute.make_strategy(flags_obj.strategy)
    datasets = datasets_override or shared.load_datasets(flags_obj)
    log_dir = (
        str(Path(flags_obj.log_dir) / time.strftime("%Y%m%d-%H%M%S")) if flags_obj.log_dir else None
    )
    with interrupt.StopOnSignal() as stop_requested:
        result = loop.train_and_evaluate(
            config, datasets, log_dir, checkpoint_dir, flags_obj.fresh, stop_requested, strategy
        )
    version_dir = None
    if distribute.should_export(strategy):
        version_dir = saved_model.export_saved_model(result.model, flags_obj.export_dir)
        logging.info("exported SavedModel to %s", version_dir)
    return _summary(config, result, version_dir, flags_obj.strategy, strategy, log_dir)


def _summary(config, result: loop.Result, version_dir, strategy_name, strategy, log_dir) -> dict:
    """The run's JSON line. Seconds count only the epochs this process trained (after a
    resume, fewer than ``epochs``): ``epochs_trained`` says how many."""
    epochs_trained = result.epochs_trained
    return {
        "test_accuracy": result.test["accuracy"],
        "test_loss": result.test["loss"],
        "val_accuracy": result.history[-1]["val_accuracy"],
        "model": config.model,
        "recipe": config.recipe,
        "gradients": config.gradients,
        "batch_size": config.batch_size,
        "lr_schedule": config.lr_schedule,
        "epochs": config.epochs,
        "epochs_trained": epochs_trained,
        "train_seconds": round(result.train_seconds, 2),
        "seconds_per_epoch": round(result.train_seconds / epochs_trained, 2)
        if epochs_trained
        else None,
        "export_dir": str(version_dir) if version_dir else None,
        "strategy": strategy_name,
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
