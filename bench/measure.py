"""One measurement, in its own process: train one way and print one JSON line.

    python -m bench.measure ours        --epochs=15
    python -m bench.measure ours_manual --epochs=15
    python -m bench.measure ours_bf16   --epochs=15   (--precision=mixed_bfloat16)
    python -m bench.measure ours_xla    --epochs=15   (--jit_compile)
    python -m bench.measure ours_1step  --epochs=15   (--steps_per_call=1)
    python -m bench.measure fit         --epochs=15
    python -m bench.measure inference   --model_dir=DIR   (a SavedModel ``ours`` exported)

``ours`` is the package's loop with tape gradients, ``ours_manual`` the same loop with the
article's hand-written backprop (``--gradients=manual``); ``fit`` is the keras.io recipe verbatim
(``model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])``,
``model.fit(x, y, batch_size=128, epochs=15, validation_split=0.1)``) on the same tfds
training images, so Keras holds out the same last 10% we do.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf
from absl import app, flags

from bench import flops
from mnist_convnet import versions
from mnist_convnet.export import saved_model, tflite
from mnist_convnet.network import model as model_lib
from mnist_convnet.reading import inference, litert
from mnist_convnet.training import data, loop
from mnist_convnet.training.config import Config

flags.DEFINE_integer("epochs", 15, "Epochs to train.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("data_dir", None, "tfds data dir.")
flags.DEFINE_string("export_dir", None, "ours: also export the trained model here.")
flags.DEFINE_string("model_dir", None, "inference: the SavedModel to measure.")
flags.DEFINE_integer(
    "max_steps_per_epoch", None, "Cut each epoch to this many steps (a smoke run; default: all)."
)
flags.DEFINE_float("seconds", 3.0, "inference: seconds of calls per batch size.")
flags.DEFINE_integer("lite_runs", 2000, "inference: timed LiteRT calls per .tflite file.")

BATCHES = (1, 32, 1024)


class _EpochTimer(keras.callbacks.Callback):
    """Seconds from the start of each epoch to the start of its validation pass."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        if hasattr(self, "_start"):
            self.seconds.append(time.perf_counter() - self._start)
            del self._start


def measure_ours(
    datasets: data.Datasets, epochs: int, seed: int, gradients: str = "tape", **options
) -> dict:
    config = Config(
        epochs=epochs,
        seed=seed,
        gradients=gradients,
        max_steps_per_epoch=flags.FLAGS.max_steps_per_epoch,
        **options,
    )
    result = loop.train_and_evaluate(config, datasets)
    if flags.FLAGS.export_dir:
        saved_model.export_saved_model(result.model, flags.FLAGS.export_dir)
    return {
        "training_flops_per_image": flops.training_flops_per_image(result.model),
        "epoch_seconds": [h["epoch_seconds"] for h in result.history],
        "test_accuracy": result.test["accuracy"],
        "test_loss": result.test["loss"],
    }


def measure_fit(datasets: data.Datasets, epochs: int, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    x_train, y_train = data.as_numpy(datasets.train.concatenate(datasets.validation))
    x_test, y_test = data.as_numpy(datasets.test)
    model = model_lib.build_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    timer = _EpochTimer()
    model.fit(
        x_train,
        keras.utils.to_categorical(y_train, 10),
        batch_size=128,
        epochs=epochs,
        steps_per_epoch=flags.FLAGS.max_steps_per_epoch,
        validation_split=0.1,
        callbacks=[timer],
        verbose=2,
    )
    loss, accuracy = model.evaluate(
        x_test, keras.utils.to_categorical(y_test, 10), batch_size=128, verbose=0
    )
    return {
        "training_flops_per_image": flops.training_flops_per_image(model),
        "epoch_seconds": timer.seconds,
        "test_accuracy": accuracy,
        "test_loss": loss,
    }


def measure_inference(datasets: data.Datasets, epochs: int, seed: int) -> dict:
    """SavedModel images/s at several batch sizes; TF Lite single-image latency in LiteRT."""
    del epochs, seed
    images, _ = data.as_numpy(datasets.test, max(BATCHES))
    version_dir = versions.resolve(flags.FLAGS.model_dir)
    loaded = inference.load_saved_model(version_dir)
    signature = loaded.signatures["serving_float"]
    throughput = {}
    for batch in BATCHES:
        x = tf.constant(images[:batch])
        signature(images=x)  # warm up (trace, allocate)
        calls, start = 0, time.perf_counter()
        while calls < 5 or time.perf_counter() - start < flags.FLAGS.seconds:
            signature(images=x)["probabilities"].numpy()
            calls += 1
        seconds = time.perf_counter() - start
        throughput[f"batch_{batch}"] = {
            "images_per_second": round(calls * batch / seconds, 1),
            "ms_per_call": round(1000 * seconds / calls, 3),
        }
    lite_rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        representative, _ = data.as_numpy(datasets.train, 200)
        classifier = tflite.save_classifier(loaded, Path(tmp) / "serving_float")
        for kind in ("float32", "int8"):
            path = Path(tmp) / f"{kind}.tflite"
            path.write_bytes(tflite.convert(classifier, kind, representative))
            latency = litert.LiteModel(path).latency_ms(images[0], runs=flags.FLAGS.lite_runs)
            lite_rows[kind] = {k: round(v, 4) for k, v in latency.items()}
            lite_rows[kind]["bytes"] = path.stat().st_size
    return {"saved_model": throughput, "tflite_single_image": lite_rows}


def main(argv: list[str]) -> None:
    (which,) = argv[1:]
    datasets = data.load(flags.FLAGS.data_dir, data.default_manual_dir())
    measure = {
        "ours": measure_ours,
        "ours_manual": functools.partial(measure_ours, gradients="manual"),
        "ours_bf16": functools.partial(measure_ours, precision="mixed_bfloat16"),
        # XLA has no deterministic max-pool gradient, so this one runs without op determinism.
        "ours_xla": functools.partial(measure_ours, jit_compile=True, deterministic=False),
        "ours_1step": functools.partial(measure_ours, steps_per_call=1),
        "fit": measure_fit,
        "inference": measure_inference,
    }[which]
    result = measure(datasets, flags.FLAGS.epochs, flags.FLAGS.seed)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["images_per_epoch"] = datasets.num_train
    print("RESULT " + json.dumps({"which": which, **result}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    app.run(main)
