"""Epochs of training steps: the loop ``model.fit`` would hide, written out.

    train_and_evaluate
      build the model (--model) and Adam
      resume from the latest checkpoint of the same run, if there is one
      for each epoch left:
        train_epoch   -> train loss, accuracy, mean ‖∂L/∂z‖ per image
                         (--steps_per_call steps per tf.function call; a checkpoint
                         every N steps and on SIGTERM/SIGINT, if asked)
        evaluate      -> validation loss, accuracy
        TensorBoard scalars, a checkpoint
      evaluate on the test split, once

Everything random (initial weights, dropout masks, the order of each epoch) derives from
one seed, and with ``deterministic=True`` TensorFlow's op determinism makes two runs
with the same seed end with identical weights.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from mnist_convnet import data, distribute, model as model_lib, step
from mnist_convnet.errors import UserError, first_line
from mnist_convnet.interrupt import Interrupted

METRIC_NAMES = ("loss", "accuracy", "dlogits_norm")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that decides what a training run computes."""

    model: str = "keras_convnet"  # a key of model.MODELS
    gradients: str = "tape"  # a key of step.GRADIENTS: "tape" or "manual"
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # a key of LR_SCHEDULES
    seed: int = 0
    deterministic: bool = True
    max_steps_per_epoch: int | None = None  # for short test and smoke runs
    verbose: bool = True
    precision: str = "float32"  # or "mixed_bfloat16" (model.PRECISIONS)
    jit_compile: bool = False  # XLA-compile the training step
    checkpoint_every_steps: int = 0  # 0: only at the end of each epoch (and on a signal)
    # Training steps per tf.function call: Python (metrics, progress bar, signal and
    # checkpoint checks) runs once per call instead of once per step. Same weights.
    steps_per_call: int = 10
    keep_checkpoints: int = 3


LR_SCHEDULES: dict[str, Callable[[float, int], float | keras.optimizers.schedules.LearningRateSchedule]] = {
    # Adam's step size held fixed, as in the keras.io recipe.
    "constant": lambda rate, total_steps: rate,
    # Cosine decay from the given rate to 0 over the run's steps: in the spirit of the
    # LeNet-5 paper's decreasing schedule, and what lifts LeNet-5 past 98.9% (README).
    "cosine": lambda rate, total_steps: keras.optimizers.schedules.CosineDecay(rate, total_steps),
}


@dataclasses.dataclass
class Result:
    """What a finished run hands back: the model, its per-epoch history and test metrics."""

    model: keras.Model
    history: list[dict[str, float]]
    test: dict[str, float]
    train_seconds: float


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy, TF and Keras; optionally makes TF's ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _means(sums: np.ndarray) -> dict[str, float]:
    loss_sum, correct, count, dlogits_norm_sum = sums
    return {
        "loss": float(loss_sum / count),
        "accuracy": float(correct / count),
        "dlogits_norm": float(dlogits_norm_sum / count),
    }


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the weights after that step are garbage."""


TrainCalls = Callable[[Iterator, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def train_epoch(
    train_calls: TrainCalls,
    batches: Iterable,
    steps: int,
    steps_per_call: int = 1,
    progbar: keras.utils.Progbar | None = None,
    epoch: int = 1,
    start: int = 0,
    sums: np.ndarray | None = None,
    after_call: Callable[[int, np.ndarray], None] | None = None,
    align_to: int = 0,
) -> dict[str, float]:
    """Takes an epoch's training steps up to step ``steps``; returns its mean metrics.

    ``train_calls(iterator, count, sums)`` takes up to ``count`` steps in one call
    (``steps_per_call`` at most, fewer where a call must end: at the epoch's end and at
    every multiple of ``align_to``, where a checkpoint is due) and adds each step's metrics
    to ``sums``. When resuming in the middle of an epoch, ``batches`` begin after the
    ``start`` steps done, whose metric ``sums`` a checkpoint kept. ``after_call(steps
    done, sums)`` runs after every call. Stops with ``TrainingDiverged`` after the first
    step whose loss is not finite, before anything (a checkpoint, an export) could save
    the broken weights.
    """
    totals = np.zeros(4) if sums is None else np.array(sums, np.float64)
    iterator = iter(batches)
    done = start
    while done < steps:
        count = min(steps_per_call, steps - done)
        if align_to:
            count = min(count, align_to - done % align_to)
        running, taken = train_calls(iterator, tf.constant(count), tf.constant(totals))
        done, totals = done + int(taken), running.numpy()
        if not np.isfinite(totals[0]):
            raise TrainingDiverged(
                f"loss became {totals[0]} at epoch {epoch}, step {done}; "
                "try a smaller --learning_rate (the last good checkpoint is kept)"
            )
        if progbar is not None:
            progbar.update(done, values=list(_means(totals).items()), finalize=False)
        if after_call is not None:
            after_call(done, totals)
    return _means(totals)


def evaluate(
    eval_step: Callable[[tf.Tensor, tf.Tensor], step.StepMetrics], batches: tf.data.Dataset
) -> dict[str, float]:
    """Mean loss, accuracy and ‖∂L/∂z‖ of a model over a whole dataset."""
    sums = np.zeros(4)
    for images, labels in batches:
        sums += np.array(eval_step(images, labels))
    return _means(sums)


def _write_scalars(writer: tf.summary.SummaryWriter, epoch: int, record: dict) -> None:
    with writer.as_default(step=epoch):
        for name, value in record.items():
            if name != "epoch":
                tf.summary.scalar(name, value)
    writer.flush()


class TrainingState:
    """Where a run is, saved in every checkpoint beside the weights and Adam's moments.

    With these, a run restored from a checkpoint takes exactly the steps an uninterrupted
    run would have taken: the same batches (each epoch's order is a function of (seed,
    epoch), so skipping ``step`` batches finds the place), the same dropout masks (the
    Dropout layers' seed-generator states), the same updates.
    """

    def __init__(self, model: keras.Model, config: Config) -> None:
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # epochs completed
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)  # steps into the next
        self.sums = tf.Variable(np.zeros(4), dtype=tf.float64, trainable=False)
        self.history = tf.Variable("[]", dtype=tf.string, trainable=False)
        self.log_dir = tf.Variable("", dtype=tf.string, trainable=False)
        self.run = tf.Variable(_fingerprint(config), dtype=tf.string, trainable=False)
        # Keras does not put the seed generators' states in a tf.train.Checkpoint of the
        # model, so they are tracked here explicitly.
        self.rng = [v for v in model.non_trainable_variables if "seed_generator" in v.path]

    def checkpoint(self, model: keras.Model, optimizer: keras.optimizers.Optimizer):
        return tf.train.Checkpoint(
            model=model, optimizer=optimizer, epoch=self.epoch, step=self.step,
            sums=self.sums, history=self.history, log_dir=self.log_dir, run=self.run,
            rng=self.rng,
        )  # fmt: skip


def _fingerprint(config: Config) -> str:
    """What must match for a checkpoint to be resumed by this config (epochs may grow)."""
    keys = ("model", "gradients", "batch_size", "learning_rate", "lr_schedule", "seed",
            "max_steps_per_epoch")  # fmt: skip
    return json.dumps({k: getattr(config, k) for k in keys}, sort_keys=True)


def _restore(latest: str, checkpoint, state: TrainingState, config: Config) -> None:
    try:
        checkpoint.restore(latest).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise UserError(
            f"cannot resume from {latest}: {first_line(error)}. Start over with --fresh, or use "
            "another --checkpoint_dir"
        ) from None
    saved = state.run.numpy().decode()
    if saved != _fingerprint(config):
        raise UserError(
            f"the checkpoints in {Path(latest).parent} are from another run ({saved}); "
            "resume it with the same flags, start over with --fresh, or use another "
            "--checkpoint_dir"
        )


def train_and_evaluate(
    config: Config,
    datasets: data.Datasets,
    log_dir: str | None = None,
    checkpoint_dir: str | None = None,
    fresh: bool = False,
    stop_requested: Callable[[], int | None] = lambda: None,
    strategy: tf.distribute.Strategy | None = None,
) -> Result:
    """Builds the model from ``config.seed``, trains it, and evaluates it on the test split.

    With a ``checkpoint_dir`` holding checkpoints of the same run, training resumes from
    the latest of them (``fresh=True`` ignores them). Checkpoints are written after every
    epoch, every ``config.checkpoint_every_steps`` steps, and when ``stop_requested()``
    returns a signal number, after which ``interrupt.Interrupted`` is raised.

    Under a ``tf.distribute`` ``strategy`` (default: TensorFlow's default one) each step
    runs on every replica and the batch metrics are summed across them. With several
    workers, only the chief's checkpoints are kept (see ``distribute``).
    """
    if config.steps_per_call < 1:
        raise UserError(f"steps_per_call must be at least 1, not {config.steps_per_call}")
    if config.gradients == "manual" and config.precision != "float32":
        raise UserError("--gradients=manual computes in float32 only; drop --precision")
    strategy = strategy or tf.distribute.get_strategy()
    steps_per_epoch = -(-datasets.num_train // config.batch_size)
    if config.max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)

    seed_everything(config.seed, config.deterministic)
    with strategy.scope():
        model = model_lib.build(config.model, config.precision)
        learning_rate = LR_SCHEDULES[config.lr_schedule](
            config.learning_rate, config.epochs * steps_per_epoch
        )
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        optimizer.build(model.trainable_variables)

    replica_step = functools.partial(
        step.train_step, model, optimizer, gradients=step.GRADIENTS[config.gradients]
    )
    if config.jit_compile:
        if config.deterministic and any(
            isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers
        ):
            raise UserError(
                "XLA has no deterministic max-pooling gradient: add --nodeterministic "
                "to use --jit_compile with this model"
            )
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def train_calls(iterator, count: tf.Tensor, sums: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Up to ``count`` steps, each on every replica; their metric sums added to ``sums``
        step by step (in float64, as one step per call would). Ends early after a step
        whose loss is not finite."""
        taken = tf.constant(0)
        for _ in tf.range(count):
            images, labels = next(iterator)
            per_replica = strategy.run(replica_step, args=(images, labels))
            metrics = tf.stack([
                strategy.reduce(tf.distribute.ReduceOp.SUM, m, axis=None) for m in per_replica
            ])  # fmt: skip
            sums += tf.cast(metrics, tf.float64)
            taken += 1
            if not tf.math.is_finite(metrics[0]):
                break
        return sums, taken

    eval_fn = tf.function(functools.partial(step.eval_step, model))
    validation = data.eval_batches(datasets.validation, config.batch_size)

    state = TrainingState(model, config)
    manager = None
    if checkpoint_dir:
        checkpoint = state.checkpoint(model, optimizer)
        manager = tf.train.CheckpointManager(
            checkpoint,
            distribute.writable_checkpoint_dir(strategy, checkpoint_dir),
            max_to_keep=config.keep_checkpoints,
        )
        latest = tf.train.latest_checkpoint(checkpoint_dir)  # the chief's, on every worker
        if latest and not fresh:
            _restore(latest, checkpoint, state, config)
            logging.info(
                "resuming from %s: %d epochs and %d steps done (--fresh starts over)",
                latest, int(state.epoch), int(state.step),
            )  # fmt: skip
        else:
            logging.info("training from scratch; checkpoints go to %s", checkpoint_dir)
    if log_dir and state.log_dir.numpy():
        log_dir = state.log_dir.numpy().decode()  # carry on with the same TensorBoard run
    elif log_dir:
        state.log_dir.assign(log_dir)
    writer = tf.summary.create_file_writer(log_dir) if log_dir else None

    def save() -> None:
        if manager is None:
            return
        # A finite loss was computed before its update; the update itself can still
        # overflow. Never let such weights replace the last good checkpoint.
        if not all(np.isfinite(v.numpy()).all() for v in model.trainable_variables):
            raise TrainingDiverged(
                f"weights became non-finite at epoch {int(state.epoch) + 1}, step "
                f"{int(state.step)}; try a smaller --learning_rate (the last good checkpoint is kept)"
            )
        manager.save(checkpoint_number=int(state.epoch) * steps_per_epoch + int(state.step))

    def after_call(done: int, sums: np.ndarray) -> None:
        state.step.assign(done)
        state.sums.assign(sums)
        every = config.checkpoint_every_steps
        signum = stop_requested()
        if signum or (every and done % every == 0 and done < steps_per_epoch):
            save()
        if signum:
            where = f"epoch {int(state.epoch) + 1}, step {done}"
            saved = f"checkpoint saved in {checkpoint_dir}" if manager else "nothing saved"
            raise Interrupted(
                f"stopped by signal {signum} at {where}; {saved}. Run the same command "
                "to resume", signum,
            )  # fmt: skip

    history: list[dict[str, float]] = json.loads(state.history.numpy())
    train_seconds = 0.0
    for epoch in range(int(state.epoch) + 1, config.epochs + 1):
        progbar = None
        if config.verbose:
            print(f"Epoch {epoch}/{config.epochs}", flush=True)
            # A live bar on a terminal; one line per epoch in a log file or CI.
            progbar = keras.utils.Progbar(
                steps_per_epoch,
                verbose=1 if sys.stdout.isatty() else 2,
                stateful_metrics=METRIC_NAMES,
            )
        first = int(state.step)
        batches = data.train_batches(
            datasets.train, datasets.num_train, config.batch_size, epoch, config.seed
        ).take(steps_per_epoch).skip(first)
        batches = strategy.experimental_distribute_dataset(data.shard_by_data(batches))
        start = time.perf_counter()
        train = train_epoch(
            train_calls, batches, steps_per_epoch, config.steps_per_call, progbar,
            epoch=epoch, start=first, sums=state.sums.numpy(), after_call=after_call,
            align_to=config.checkpoint_every_steps,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        train_seconds += seconds
        val = evaluate(eval_fn, validation)
        record = {
            "epoch": epoch,
            **{f"train_{k}": v for k, v in train.items()},
            **{f"val_{k}": v for k, v in val.items()},
            "epoch_seconds": seconds,
        }
        history.append(record)
        if progbar is not None:
            progbar.update(
                steps_per_epoch,
                values=[(k, record[k]) for k in ("val_loss", "val_accuracy")],
                finalize=True,
            )
        logging.info(
            "epoch %d/%d: train loss %.4f acc %.4f |dL/dz| %.4f, val loss %.4f acc %.4f, %.1fs",
            epoch, config.epochs, train["loss"], train["accuracy"], train["dlogits_norm"],
            val["loss"], val["accuracy"], seconds,
        )  # fmt: skip
        if writer is not None:
            _write_scalars(writer, epoch, record)
        state.epoch.assign(epoch)
        state.step.assign(0)
        state.sums.assign(np.zeros(4))
        state.history.assign(json.dumps(history))
        save()

    if manager is not None and manager.directory != checkpoint_dir:
        shutil.rmtree(manager.directory, ignore_errors=True)  # a non-chief's scratch copies
    test = evaluate(eval_fn, data.eval_batches(datasets.test, config.batch_size))
    logging.info("test loss %.4f accuracy %.4f", test["loss"], test["accuracy"])
    if writer is not None:
        _write_scalars(writer, config.epochs, {f"test_{k}": v for k, v in test.items()})
    return Result(model=model, history=history, test=test, train_seconds=train_seconds)


def restore_model(checkpoint_dir: str | Path, model_name: str = "keras_convnet") -> keras.Model:
    """The model of the latest checkpoint in ``checkpoint_dir`` (for exporting it later)."""
    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    if latest is None:
        raise UserError(f"no checkpoint found in {checkpoint_dir}")
    model = model_lib.build(model_name)
    try:
        status = tf.train.Checkpoint(model=model).restore(latest)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise UserError(
            f"checkpoint {latest} does not hold a {model_name} model: {first_line(error)}"
        ) from None
    return model
