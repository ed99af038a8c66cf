"""Convert a SavedModel to TF Lite and score each file: three classifiers and the reader.

    mnist-convnet export-tflite --model_dir=saved_models/mnist_convnet

The classifiers (float32, dynamic-range, int8: 28x28 in) are evaluated with the LiteRT
interpreter on all 10,000 test images next to the SavedModel itself. The readers
(``reader.tflite`` and its dynamic-range twin: the digit-finder and the classifier, a
camera frame in) are scored on test digits placed in a frame, as a phone would hand them
over, and their ops are listed (builtins only). ``trainable.tflite`` (a classifier a phone
can teach: ``export/trainable.py``) is scored as it comes, before any training. The table
(file, bytes, accuracy, latency) is printed as JSON and saved as ``report.json`` beside
the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from absl import app, flags
from PIL import Image

from mnist_convnet import files, versions
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error
from mnist_convnet.figures import evaluation
from mnist_convnet.reading import litert

if TYPE_CHECKING:
    from mnist_convnet.training import data

shared.define_model_dir_flag()
shared.define_data_flags()
flags.DEFINE_integer("representative_images", 500, "Training images that calibrate int8.")
flags.DEFINE_integer("test_images", None, "Score on this many test images (default: all).")
flags.DEFINE_integer(
    "reader_images", 500, "Test images the readers are scored on (each a whole frame)."
)


def _classifier_row(path: Path, images: np.ndarray, labels: np.ndarray, baseline: float) -> dict:
    model = litert.LiteModel(path)
    accuracy = evaluation.scores(labels, model.predict(images))["accuracy"]
    return {
        "accuracy": accuracy,
        "accuracy_change_points": round(100 * (accuracy - baseline), 3),
        **{k: round(v, 4) for k, v in model.latency_ms(images[0]).items()},
    }


def _trainable_row(path: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of trainable.tflite's ``infer`` before any training (the model's own)."""
    from ai_edge_litert.interpreter import Interpreter

    infer = Interpreter(model_path=str(path)).get_signature_runner("infer")
    read = np.concatenate(
        [
            infer(images=images[i : i + 500])["probabilities"].argmax(1)
            for i in range(0, len(images), 500)
        ]
    )
    return {"accuracy": float((read == labels).mean())}


def _reader_row(path: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of reader.tflite on test digits as frames (the 28x28 image itself)."""
    from mnist_convnet.export import tflite

    reader = litert.LiteReader(path)
    read = [reader.read_image(Image.fromarray(image[..., 0])) for image in images]
    right = sum(r.get("digit") == int(label) for r, label in zip(read, labels))
    return {
        "accuracy": right / len(labels),
        "not_found": sum("error" in r for r in read),
        "ops": sorted(tflite.op_names(path.read_bytes())),
    }


def run(flags_obj: flags.FlagValues, datasets_override: data.Datasets | None = None) -> dict:
    """Converts, evaluates and returns the report."""
    from mnist_convnet.export import tflite, trainable
    from mnist_convnet.reading import inference
    from mnist_convnet.training import data  # TensorFlow: not for --help

    saved_model = versions.resolve(flags_obj.model_dir)
    datasets = datasets_override or shared.load_datasets(flags_obj)
    count = max(flags_obj.representative_images, trainable.REPLAY)
    train_images, train_labels = data.as_numpy(datasets.train, count)
    representative = train_images[: flags_obj.representative_images]
    images, labels = data.as_numpy(datasets.test, flags_obj.test_images)
    uint8 = np.round(images * 255).astype(np.uint8)

    loaded = inference.load_saved_model(saved_model)  # once, for every file and the baseline
    classify = inference.saved_model_classifier(loaded, saved_model)
    out_dir = tflite.output_dir(saved_model)
    paths = tflite.write_all(loaded, representative, out_dir)
    model = inference.load_keras_model(saved_model)
    paths["trainable"] = trainable.write(model, train_images, train_labels, out_dir)
    baseline = evaluation.scores(labels, classify(images))
    rows = [{"file": str(saved_model), "kind": "saved_model", "accuracy": baseline["accuracy"]}]
    for kind, path in paths.items():
        row = {"file": str(path), "kind": kind, "bytes": path.stat().st_size}
        if kind == "trainable":
            row.update(_trainable_row(path, images, labels))
        elif kind in tflite.READERS:
            count = flags_obj.reader_images
            row.update(_reader_row(path, uint8[:count], labels[:count]), test_images=count)
        else:
            row.update(_classifier_row(path, images, labels, baseline["accuracy"]))
        rows.append(row)
    report = {"saved_model": str(saved_model), "test_images": int(len(labels)), "models": rows}
    files.write_whole(Path(out_dir) / "report.json", (json.dumps(report, indent=2) + "\n").encode())
    return report


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        report = run(flags.FLAGS)
    print(json.dumps(report), flush=True)
