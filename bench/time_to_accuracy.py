"""Time to a 99% model: training seconds until test accuracy first reaches a target.

    python -m bench.time_to_accuracy --runs=fit,fast          # seeds 0-4: fit's median
    python -m bench.time_to_accuracy --runs=fast --seeds=0 --score=validation \\
        --trial='{"epochs": 3, "batch_size": 256, "learning_rate": 0.003}'

Three ways to train the same keras.io network (34,826 parameters):

    fit    the keras.io recipe verbatim: model.compile(... "adam" ...), model.fit(batch_size=128,
           epochs=15, validation_split=0.1)
    ours   our loop with the same recipe (make train)
    fast   our loop with --recipe=fast (config.RECIPES["fast"])

Each (run, seed) trains in its own process, the runs taking turns seed by seed, so the
machine's slow spells hit all of them. After every epoch the test split is scored *off
the clock*; the clock counts training only (for ``fit``, from each epoch's start to its
validation pass; for our loop, the epoch's training steps). A run stops at the first epoch
that reaches ``--target``. ``fast`` is short, so it is also scored every ``--score_every``
of an epoch (the issue's "fractions of an epoch"), and trains all its epochs: its
schedule ends there.

``--score=validation`` scores the validation split instead, for choosing a recipe without
looking at the test set; ``--trial`` overrides the fast recipe's settings. Prints JSON.

One ``fit`` run is a lottery (70-228 s to 99% seen for one machine), so the summary holds
each run's *median* over the seeds, and each fast seed's time over fit's median. Each run
is also split in three (``split``): ``startup`` (wall seconds from the call of
``fit``/``train_and_evaluate`` to its first training step: building the model, the
optimizer, the checkpoint manager; off the training clock), ``first_epoch`` (the first
epoch's training clock, which holds the tracing of the step functions) and ``rest`` (the
clock from there to the target). ``fast_over_fit_wall`` counts the start-up of both too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import keras
import numpy as np
from absl import app, flags

from bench import summaries
from mnist_convnet.network import model as model_lib
from mnist_convnet.training import data, loop
from mnist_convnet.training.config import Config

flags.DEFINE_list("runs", ["fit", "ours", "fast"], "Which ways to train.")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds; every run trains once per seed.")
flags.DEFINE_float("target", 0.99, "Accuracy to reach.")
flags.DEFINE_enum("score", "test", ["test", "validation"], "Which split is scored.")
flags.DEFINE_float(
    "score_every",
    0.5,
    "For the fast recipe, also score at these fractions of an epoch (0: after epochs only).",
)
flags.DEFINE_bool("stop_fast", False, "Stop the fast run at the target too.")
flags.DEFINE_string("trial", "", "JSON of Config settings that override the fast recipe.")
flags.DEFINE_integer("fit_epochs", 15, "fit's epochs at most (keras.io's 15).")
flags.DEFINE_integer(
    "max_steps_per_epoch", None, "Cut every run's epochs to this many steps (a smoke run)."
)
flags.DEFINE_string("one", "", "Internal: run this one (run:seed) in this process.")
flags.DEFINE_string("data_dir", None, "tfds data dir.")


class _Reached(Exception):
    """Raised off the clock to end a run once it reached the target."""


class Scorer:
    """Accuracy of a model on the scored split after each epoch, with the time so far."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, target: float, stop: bool):
        self.images, self.labels, self.target, self.stop = images, labels, target, stop
        self.curve: list[dict] = []
        self.started = 0.0  # perf_counter when the run's training call was made
        self.startup = None  # wall seconds from then to the first training step
        self.first_epoch = None  # the first epoch's training seconds

    def start(self) -> None:
        self.started = time.perf_counter()

    def first_step(self, seconds_on_clock: float = 0.0) -> None:
        """Marks the first step: called as it begins (fit), or after the first call of steps
        with the training clock so far (ours), which is then not start-up."""
        if self.startup is None:
            self.startup = time.perf_counter() - self.started - seconds_on_clock

    def __call__(self, epochs: float, seconds: float, model: keras.Model) -> bool:
        """Scores ``model`` after ``epochs`` (a fraction within an epoch) and ``seconds`` of
        training in all; True when the run should stop."""
        if self.first_epoch is None and epochs >= 1 - 1e-9:
            self.first_epoch = seconds
        probabilities = model.predict(self.images, batch_size=1000, verbose=0)
        accuracy = float(np.mean(np.argmax(probabilities, -1) == self.labels))
        self.curve.append(
            {"epoch": round(epochs, 3), "seconds": round(seconds, 2), "accuracy": accuracy}
        )
        return self.stop and accuracy >= self.target

    def result(self) -> dict:
        reached = [p for p in self.curve if p["accuracy"] >= self.target]
        to_target = reached[0]["seconds"] if reached else None
        split = {
            "startup": summaries.round_or_none(self.startup),
            "first_epoch": summaries.round_or_none(self.first_epoch),
        }
        if to_target is not None and self.first_epoch is not None:
            split["rest"] = summaries.round_or_none(max(0.0, to_target - self.first_epoch))
        return {
            "seconds_to_target": to_target,
            "epochs_to_target": reached[0]["epoch"] if reached else None,
            "final_accuracy": self.curve[-1]["accuracy"],
            "split": split,
            "curve": self.curve,
        }


class _FitEpochs(keras.callbacks.Callback):
    """fit's training seconds per epoch (start to validation), then the scorer."""

    def __init__(self, scorer: Scorer) -> None:
        super().__init__()
        self.scorer = scorer

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self.scorer.first_step()

    def on_test_begin(self, logs=None):
        if hasattr(self, "start"):
            self.seconds = time.perf_counter() - self.start
            del self.start

    def on_epoch_end(self, epoch, logs=None):
        self.total = getattr(self, "total", 0.0) + self.seconds
        if self.scorer(epoch + 1, self.total, self.model):
            self.model.stop_training = True


def run_fit(datasets: data.Datasets, seed: int, scorer: Scorer) -> None:
    keras.utils.set_random_seed(seed)
    x, y = data.as_numpy(datasets.train.concatenate(datasets.validation))
    scorer.start()
    model = model_lib.build_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        x,
        keras.utils.to_categorical(y, 10),
        batch_size=128,
        epochs=flags.FLAGS.fit_epochs,
        steps_per_epoch=flags.FLAGS.max_steps_per_epoch,
        validation_split=0.1,
        callbacks=[_FitEpochs(scorer)],
        verbose=0,
    )


def run_ours(config: Config, datasets: data.Datasets, scorer: Scorer, every: float) -> None:
    """Our loop, scored every ``every`` of an epoch (at the first call ending past each
    mark; calls are ``steps_per_call`` steps) or, for 0, after every epoch."""
    marks = [1.0]

    def on_steps(epochs: float, seconds: float, model: keras.Model) -> None:
        scorer.first_step(seconds)
        whole = abs(epochs - round(epochs)) < 1e-9
        if (every and epochs >= marks[0] - 1e-9) or (not every and whole):
            while marks[0] <= epochs + 1e-9:
                marks[0] += every or 1.0
            if scorer(epochs, seconds, model):
                raise _Reached

    marks[0] = every or 1.0
    scorer.start()
    try:
        loop.train_and_evaluate(config, datasets, on_steps=on_steps)
    except _Reached:
        pass


def measure_one(run: str, seed: int) -> dict:
    FLAGS = flags.FLAGS
    datasets = data.load(FLAGS.data_dir, data.default_manual_dir())
    split = datasets.test if FLAGS.score == "test" else datasets.validation
    images, labels = data.as_numpy(split)
    scorer = Scorer(images, labels, FLAGS.target, stop=run != "fast" or FLAGS.stop_fast)
    if run == "fit":
        run_fit(datasets, seed, scorer)  # its arrays are loaded before its clock starts
    else:
        for _ in datasets.train.batch(4096):  # ours too: decode into the cache off the clock
            pass
        settings = {"recipe": "fast", **json.loads(FLAGS.trial or "{}")} if run == "fast" else {}
        if FLAGS.max_steps_per_epoch:
            settings.setdefault("max_steps_per_epoch", FLAGS.max_steps_per_epoch)
        every = FLAGS.score_every if run == "fast" else 0.0
        run_ours(Config(seed=seed, verbose=False, **settings), datasets, scorer, every)
    return {"run": run, "seed": seed, **scorer.result()}


def main(argv: list[str]) -> None:
    del argv
    FLAGS = flags.FLAGS
    if FLAGS.one:
        run, seed = FLAGS.one.split(":")
        print("RESULT " + json.dumps(measure_one(run, int(seed))), flush=True)
        return
    passed = [a for a in sys.argv[1:] if not a.startswith(("--runs", "--seeds"))]
    results = []
    for seed in FLAGS.seeds:
        for run in FLAGS.runs:
            command = [
                sys.executable,
                "-m",
                "bench.time_to_accuracy",
                f"--one={run}:{seed}",
                *passed,
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
            if done.returncode or not lines:
                sys.exit(f"{run} seed {seed} failed:\n{done.stderr[-3000:]}")
            results.append(json.loads(lines[-1].removeprefix("RESULT ")))
            print(
                json.dumps({k: v for k, v in results[-1].items() if k != "curve"}),
                file=sys.stderr,
                flush=True,
            )
    summary = summaries.time_to_target(results, FLAGS.runs)
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "score": FLAGS.score,
                "target": FLAGS.target,
                "summary": summary,
                "runs": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    app.run(main)
