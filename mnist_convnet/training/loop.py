"""Epochs of training steps: the loop ``model.fit`` would hide, written out.

    train_and_evaluate(config, datasets)
      build the model (config.model) and Adam; resume from the run's latest checkpoint
      for each epoch left:
        train_epoch   -> train loss, accuracy, mean ‖∂L/∂z‖ per image
                         (step.make_train_function: --steps_per_call steps per call;
                         checkpoints.Checkpoints.after_call after each call)
        evaluate      -> validation loss, accuracy
        TensorBoard scalars, a checkpoint
      evaluate on the test split, once

Everything random (initial weights, dropout masks, the order of each epoch) derives from
one seed, and with ``deterministic=True`` TensorFlow's op determinism makes two runs
with the same seed end with identical weights.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from mnist_convnet.network import model as model_lib
from mnist_convnet.training import data, step
from mnist_convnet.training import optimizer as optimizer_lib
from mnist_convnet.training.checkpoints import Checkpoints, TrainingDiverged, TrainingState
from mnist_convnet.training.config import Config
from mnist_convnet.training.step import StepMetrics


@dataclasses.dataclass
class Result:
    """What a finished run hands back: the model, its per-epoch history and test metrics.

    ``train_seconds`` and ``epochs_trained`` count only what this process trained: after a
    resume, the epochs (or the rest of an epoch) left when it started.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    history: list[dict[str, float]]
    test: dict[str, float]
    train_seconds: float
    epochs_trained: int


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy, TF and Keras; optionally makes TF's ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def steps_per_epoch(config: Config, num_train: int) -> int:
    steps = -(-num_train // config.batch_size)
    return min(steps, config.max_steps_per_epoch or steps)


def train_epoch(
    train_function: step.TrainFunction,
    batches: Iterable,
    steps: int,
    config: Config,
    state: TrainingState,
    progbar: keras.utils.Progbar | None = None,
    after_call: Callable[[int, StepMetrics], None] | None = None,
) -> dict[str, float]:
    """Takes the current epoch's steps from where ``state`` is up to step ``steps``; returns
    the epoch's mean metrics.

    When resuming in the middle of an epoch, ``batches`` begin after the ``state.step``
    steps done, whose metric sums the state kept. Each call takes ``config.steps_per_call``
    steps at most, fewer where a call must end: at the epoch's end and at every multiple of
    ``config.checkpoint_every_steps``, where a checkpoint is due. Stops with
    ``TrainingDiverged`` after the first step whose loss is not finite, before anything
    could save the broken weights.
    """
    totals, done, epoch = state.metric_sums(), int(state.step), int(state.epoch) + 1
    align_to = config.checkpoint_every_steps
    iterator = iter(batches)
    while done < steps:
        count = min(config.steps_per_call, steps - done)
        if align_to:
            count = min(count, align_to - done % align_to)
        sums = StepMetrics(*(tf.constant(v, tf.float64) for v in totals))
        running, taken = train_function(iterator, tf.constant(count), sums)
        done, totals = done + int(taken), StepMetrics(*(v.numpy() for v in running))
        if not np.isfinite(totals.loss_sum):
            raise TrainingDiverged(
                f"loss became {totals.loss_sum} at epoch {epoch}, step {done}; "
                "try a smaller --learning_rate (the last good checkpoint is kept)"
            )
        if progbar is not None:
            progbar.update(done, values=list(totals.means().items()), finalize=False)
        if after_call is not None:
            after_call(done, totals)
    return totals.means()


def evaluate(eval_step: Callable[[tf.Tensor, tf.Tensor], StepMetrics], batches) -> dict[str, float]:
    """Mean loss, accuracy and ‖∂L/∂z‖ of a model over a whole dataset."""
    sums = StepMetrics.zeros()
    for images, labels in batches:
        sums = sums.plus(StepMetrics(*(float(v) for v in eval_step(images, labels))))
    return sums.means()


def train_and_evaluate(
    config: Config,
    datasets: data.Datasets,
    log_dir: str | None = None,
    checkpoint_dir: str | None = None,
    fresh: bool = False,
    stop_requested: Callable[[], int | None] = lambda: None,
    strategy: tf.distribute.Strategy | None = None,
    on_epoch_end: Callable[[dict, keras.Model], None] | None = None,
    on_steps: Callable[[float, float, keras.Model], None] | None = None,
) -> Result:
    """Builds the model from ``config.seed``, trains it, and evaluates it on the test split.

    With a ``checkpoint_dir`` holding checkpoints of the same run, training resumes from
    the latest (``fresh=True`` ignores them); ``stop_requested()`` returning a signal number
    saves one and raises ``interrupt.Interrupted``. Under a ``tf.distribute`` ``strategy``
    each step runs on every replica. ``on_epoch_end(record, model)`` runs off the clock, as
    does ``on_steps(epochs, seconds, model)`` after every ``steps_per_call`` steps, given
    the epochs done (a fraction within an epoch) and the training seconds so far.
    """
    strategy = strategy or tf.distribute.get_strategy()
    steps = steps_per_epoch(config, datasets.num_train)
    model, optimizer = _build(config, strategy, config.epochs * steps)
    train_function = step.make_train_function(model, optimizer, strategy, config)
    eval_step = step.make_eval_step(model)
    validation = data.eval_batches(datasets.validation, config.batch_size)
    state = TrainingState(model, config)
    checkpoints = Checkpoints(state, optimizer, checkpoint_dir, strategy, steps, stop_requested)
    checkpoints.resume(fresh)
    writer = _summary_writer(state, log_dir)
    history: list[dict[str, float]] = json.loads(state.history.numpy())
    clock, first_epoch = Stopwatch(), int(state.epoch) + 1
    for epoch in range(first_epoch, config.epochs + 1):
        progbar = _progbar(config, steps, epoch)
        batches = _train_batches(config, datasets, epoch, int(state.step), steps, strategy)
        after_call = _after_call(checkpoints, on_steps, clock, epoch - 1, steps, model)
        before = clock.start()
        train = train_epoch(train_function, batches, steps, config, state, progbar, after_call)
        seconds = clock.stop() - before
        record = _epoch_record(epoch, train, evaluate(eval_step, validation), seconds)
        history.append(record)
        _report(config, record, progbar, writer)
        state.end_epoch(epoch, history)
        checkpoints.save()
        if on_epoch_end is not None:
            on_epoch_end(record, model)
    checkpoints.close()
    test = evaluate(eval_step, data.eval_batches(datasets.test, config.batch_size))
    logging.info("test loss %.4f accuracy %.4f", test["loss"], test["accuracy"])
    if writer is not None:
        _write_scalars(writer, config.epochs, {f"test_{k}": v for k, v in test.items()})
    epochs_trained = config.epochs + 1 - first_epoch
    return Result(model, optimizer, history, test, clock.total, epochs_trained)


class Stopwatch:
    """Training seconds, summed over the spans between ``start()`` and ``stop()``."""

    def __init__(self) -> None:
        self.total, self._started = 0.0, 0.0

    def start(self) -> float:
        self._started = time.perf_counter()
        return self.total

    def stop(self) -> float:
        self.total += time.perf_counter() - self._started
        return self.total


def _after_call(
    checkpoints: Checkpoints, on_steps, clock: Stopwatch, epochs_before: int, steps, model
):
    """What runs after each call: a checkpoint when one is due, then ``on_steps`` with the
    clock stopped."""
    if on_steps is None:
        return checkpoints.after_call

    def after_call(done: int, totals: StepMetrics) -> None:
        checkpoints.after_call(done, totals)
        on_steps(epochs_before + done / steps, clock.stop(), model)
        clock.start()

    return after_call


def _build(config: Config, strategy: tf.distribute.Strategy, total_steps: int):
    """The model and Adam, made from the run's seed in the strategy's scope."""
    seed_everything(config.seed, config.deterministic)
    with strategy.scope():
        model = model_lib.build(
            config.model, config.precision, config.dropout, bool(config.deslant)
        )
        return model, optimizer_lib.make_optimizer(model, config, total_steps)


def _train_batches(
    config: Config,
    datasets: data.Datasets,
    epoch: int,
    skip: int,
    steps: int,
    strategy: tf.distribute.Strategy,
):
    """One epoch's batches from step ``skip`` on, split across the strategy's replicas."""
    batches = (
        data.train_batches(
            datasets.train,
            datasets.num_train,
            config.batch_size,
            epoch,
            config.seed,
            config.augment or 0.0,
        )
        .take(steps)
        .skip(skip)
    )
    return strategy.experimental_distribute_dataset(data.shard_by_data(batches))


def _summary_writer(state: TrainingState, log_dir: str | None):
    """TensorBoard's writer; a resumed run carries on in the folder it started."""
    if log_dir and state.log_dir.numpy():
        log_dir = state.log_dir.numpy().decode()
    elif log_dir:
        state.log_dir.assign(log_dir)
    return tf.summary.create_file_writer(log_dir) if log_dir else None


def _progbar(config: Config, steps: int, epoch: int) -> keras.utils.Progbar | None:
    """A live bar on a terminal; one line per epoch in a log file or CI."""
    if not config.verbose:
        return None
    print(f"Epoch {epoch}/{config.epochs}", flush=True)
    verbose = 1 if sys.stdout.isatty() else 2
    return keras.utils.Progbar(steps, verbose=verbose, stateful_metrics=step.METRIC_NAMES)


def _epoch_record(epoch: int, train: dict, val: dict, seconds: float) -> dict[str, float]:
    return {
        "epoch": epoch,
        **{f"train_{k}": v for k, v in train.items()},
        **{f"val_{k}": v for k, v in val.items()},
        "epoch_seconds": seconds,
    }


def _report(config: Config, record: dict, progbar, writer) -> None:
    """The epoch's line on the progress bar, in the log and in TensorBoard."""
    if progbar is not None:
        values = [(k, record[k]) for k in ("val_loss", "val_accuracy")]
        progbar.update(progbar.target, values=values, finalize=True)
    logging.info(
        "epoch %d/%d: train loss %.4f acc %.4f |dL/dz| %.4f, val loss %.4f acc %.4f, %.1fs",
        record["epoch"],
        config.epochs,
        record["train_loss"],
        record["train_accuracy"],
        record["train_dlogits_norm"],
        record["val_loss"],
        record["val_accuracy"],
        record["epoch_seconds"],
    )
    if writer is not None:
        _write_scalars(writer, record["epoch"], record)


def _write_scalars(writer: tf.summary.SummaryWriter, epoch: int, record: dict) -> None:
    with writer.as_default(step=epoch):
        for name, value in record.items():
            if name != "epoch":
                tf.summary.scalar(name, value)
    writer.flush()
