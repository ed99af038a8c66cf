"""A run's checkpoints: where it is, saved often enough that a stop costs only time.

A checkpoint holds the weights, Adam's moments and a ``TrainingState``: epochs done, steps
into the next epoch, that epoch's metric sums so far, the history, the TensorBoard folder,
the run's fingerprint and the dropout layers' random-generator states. A run restored from
it takes exactly the steps an uninterrupted run would have taken.

``Checkpoints`` decides when to save (every epoch, every ``checkpoint_every_steps``, on a
signal), refuses to save weights that are no longer finite, and refuses to resume another
run's checkpoints. Which worker writes where is ``distribute``'s decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from mnist_convnet.errors import UserError, first_line
from mnist_convnet.network import model as model_lib
from mnist_convnet.training import distribute
from mnist_convnet.training.config import Config
from mnist_convnet.training.interrupt import Interrupted
from mnist_convnet.training.step import StepMetrics


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the weights after that step are garbage."""


class TrainingState:
    """Where a run is, saved in every checkpoint beside the weights and Adam's moments.

    Each epoch's order is a function of (seed, epoch), so skipping ``step`` batches finds
    the place; the Dropout layers' seed-generator states give the same masks.
    """

    def __init__(self, model: keras.Model, config: Config) -> None:
        self.model, self.config = model, config
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # epochs completed
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)  # steps into the next
        self.sums = {
            name: tf.Variable(0.0, dtype=tf.float64, trainable=False)
            for name in StepMetrics._fields
        }
        self.history = tf.Variable("[]", dtype=tf.string, trainable=False)
        self.log_dir = tf.Variable("", dtype=tf.string, trainable=False)
        self.run = tf.Variable(config.fingerprint(), dtype=tf.string, trainable=False)
        # Keras does not put the seed generators' states in a tf.train.Checkpoint of the
        # model, so they are tracked here explicitly.
        self.rng = [v for v in model.non_trainable_variables if "seed_generator" in v.path]

    def metric_sums(self) -> StepMetrics:
        return StepMetrics(*(float(self.sums[name].numpy()) for name in StepMetrics._fields))

    def record_steps(self, done: int, sums: StepMetrics) -> None:
        self.step.assign(done)
        for name, value in zip(StepMetrics._fields, sums):
            self.sums[name].assign(value)

    def end_epoch(self, epoch: int, history: list[dict]) -> None:
        self.epoch.assign(epoch)
        self.record_steps(0, StepMetrics.zeros())
        self.history.assign(json.dumps(history))

    def checkpoint(self, optimizer: keras.optimizers.Optimizer):
        return tf.train.Checkpoint(
            model=self.model,
            optimizer=optimizer,
            epoch=self.epoch,
            step=self.step,
            sums=self.sums,
            history=self.history,
            log_dir=self.log_dir,
            run=self.run,
            rng=self.rng,
        )


class Checkpoints:
    """Saving and resuming one run's checkpoints in ``directory`` (``None``: none at all).

    ``after_call(steps done, sums)`` is what the loop calls after every training call: it
    records the place, saves when a checkpoint is due, and on a signal saves and raises
    ``Interrupted``.
    """

    def __init__(
        self,
        state: TrainingState,
        optimizer: keras.optimizers.Optimizer,
        directory: str | None,
        strategy: tf.distribute.Strategy,
        steps_per_epoch: int,
        stop_requested: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.state = state
        self.directory, self.strategy = directory, strategy
        self.steps_per_epoch, self.stop_requested = steps_per_epoch, stop_requested
        self.checkpoint = state.checkpoint(optimizer)
        self.manager = None
        if directory:
            self.manager = tf.train.CheckpointManager(
                self.checkpoint,
                distribute.writable_checkpoint_dir(strategy, directory),
                max_to_keep=state.config.keep_checkpoints,
            )

    def resume(self, fresh: bool = False) -> None:
        """Restores the latest checkpoint of this run, if any (``fresh``: ignore them)."""
        if not self.directory:
            return
        latest = tf.train.latest_checkpoint(self.directory)  # the chief's, on every worker
        if not latest or fresh:
            logging.info("training from scratch; checkpoints go to %s", self.directory)
            return
        latest = self._restore_newest_whole(latest)
        saved = self.state.run.numpy().decode()
        if saved != self.state.config.fingerprint():
            raise UserError(
                f"the checkpoints in {Path(latest).parent} are from another run ({saved}); "
                "resume it with the same flags, start over with --fresh, or use another "
                "--checkpoint_dir"
            )
        logging.info(
            "resuming from %s: %d epochs and %d steps done (--fresh starts over)",
            latest,
            int(self.state.epoch),
            int(self.state.step),
        )

    def _restore_newest_whole(self, latest: str) -> str:
        restore = lambda path: self.checkpoint.restore(path).assert_existing_objects_matched()
        start_over = "Start over with --fresh, or use another --checkpoint_dir"
        return restore_newest_whole(
            self.directory, latest, restore, ("resume", "resuming"), start_over
        )

    def save(self) -> None:
        """A checkpoint numbered by the global step, unless the weights are broken."""
        if self.manager is None:
            return
        # A finite loss was computed before its update; the update itself can still
        # overflow. Never let such weights replace the last good checkpoint.
        if not all(np.isfinite(v.numpy()).all() for v in self.state.model.trainable_variables):
            raise TrainingDiverged(
                f"weights became non-finite at epoch {int(self.state.epoch) + 1}, step "
                f"{int(self.state.step)}; try a smaller --learning_rate (the last good "
                "checkpoint is kept)"
            )
        number = int(self.state.epoch) * self.steps_per_epoch + int(self.state.step)
        self.manager.save(checkpoint_number=number)

    def after_call(self, done: int, sums: StepMetrics) -> None:
        self.state.record_steps(done, sums)
        every = self.state.config.checkpoint_every_steps
        signum = self.stop_requested()
        if signum or (every and done % every == 0 and done < self.steps_per_epoch):
            self.save()
        if signum:
            where = f"epoch {int(self.state.epoch) + 1}, step {done}"
            saved = f"checkpoint saved in {self.directory}" if self.manager else "nothing saved"
            raise Interrupted(
                f"stopped by signal {signum} at {where}; {saved}. Run the same command to resume",
                signum,
            )

    def close(self) -> None:
        """Drops what only this worker wrote (see ``distribute.release_checkpoint_dir``)."""
        if self.manager is not None:
            distribute.release_checkpoint_dir(self.strategy, self.manager.directory)


def recorded_run(checkpoint: str) -> dict:
    """The settings a checkpoint was written under (``TrainingState.run``: the network,
    its recipe, the seed), read from the checkpoint itself. A damaged file raises what
    TensorFlow raises (``restore_newest_whole`` passes over it); no record is a KeyError."""
    record = tf.train.load_checkpoint(checkpoint).get_tensor("run/.ATTRIBUTES/VARIABLE_VALUE")
    return json.loads(record)


def restore_newest_whole(
    directory: str,
    latest: str,
    restore: Callable[[str], object],
    doing: tuple[str, str],
    start_over: str,
) -> str:
    """Restores (``restore(path)``) the newest checkpoint of ``directory`` that reads back
    whole, from ``latest`` back through the older ones; returns its path. The one rule of
    ``train`` (resuming) and ``export``.

    A disk that filled up or a copy cut short leaves the newest checkpoint truncated: the
    command goes on from the one before it, saying so, rather than stopping or starting
    over. Every later restore overwrites every variable, so a half-read checkpoint leaves
    nothing behind. With none whole, one error naming the newest: what could not be done
    (``doing``: the verb, and its -ing form for the warning) and how to go on.
    """
    state = tf.train.get_checkpoint_state(directory)
    older = list(state.all_model_checkpoint_paths) if state else []
    candidates = [latest] + [p for p in reversed(older) if p != latest]
    failures = []
    for path in candidates:
        try:
            restore(path)
        # A truncated file reads short (IndexError); a missing piece is NotFound.
        except (AssertionError, ValueError, IndexError, KeyError, tf.errors.OpError) as error:
            failures.append(f"{path}: {first_line(error)}")
            continue
        if failures:
            logging.warning("cannot read %s; %s from %s instead", failures[0], doing[1], path)
        return path
    raise UserError(
        f"cannot {doing[0]} from {failures[0]}"
        + (f" (nor from {len(failures) - 1} older checkpoints)" if len(failures) > 1 else "")
        + f". {start_over}"
    )


def restore_model(checkpoint_dir: str | Path, model_name: str | None = None) -> keras.Model:
    """The model of the newest whole checkpoint in ``checkpoint_dir`` (to export it).

    The network is the one the checkpoint records; ``model_name``, if given, must be it.
    """
    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    if latest is None:
        raise UserError(f"no checkpoint found in {checkpoint_dir}")
    restored: list[keras.Model] = []

    def restore(path: str) -> None:
        run = recorded_run(path)
        recorded = run.get("model", "keras_convnet")
        if model_name not in (None, recorded):
            raise UserError(
                f"checkpoint {path} does not hold a {model_name} model: it holds {recorded}"
            )
        model = model_lib.build(recorded, deslant=bool(run.get("deslant")))
        status = tf.train.Checkpoint(model=model).restore(path)
        status.expect_partial().assert_existing_objects_matched()
        restored.append(model)

    start_over = "Train again, or name another --checkpoint_dir"
    restore_newest_whole(str(checkpoint_dir), latest, restore, ("export", "exporting"), start_over)
    return restored[-1]
