"""Convert a SavedModel to TF Lite (float32, dynamic-range, int8) and score each file.

    mnist-convnet export-tflite --model_dir=saved_models/mnist_convnet

Every file is evaluated with the LiteRT interpreter on all 10,000 test images next to the
SavedModel itself; the table (file, bytes, accuracy, single-image latency) is printed as
JSON and saved as ``report.json`` beside the files.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

from mnist_convnet import data, evaluation, inference, tflite
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error

shared.define_model_dir_flag()
shared.define_data_flags()
flags.DEFINE_integer("representative_images", 500, "Training images that calibrate int8.")
flags.DEFINE_integer("test_images", None, "Score on this many test images (default: all).")


def run(flags_obj: flags.FlagValues, datasets_override: data.Datasets | None = None) -> dict:
    """Converts, evaluates and returns the report."""
    saved_model = inference.resolve_saved_model(flags_obj.model_dir)
    datasets = datasets_override or shared.load_datasets(flags_obj)
    representative, _ = data.as_numpy(datasets.train, flags_obj.representative_images)
    images, labels = data.as_numpy(datasets.test, flags_obj.test_images)

    out_dir = tflite.output_dir(saved_model)
    paths = tflite.write_all(saved_model, representative, out_dir)
    baseline = evaluation.scores(labels, inference.load_classifier(saved_model)(images))
    rows = [{"file": str(saved_model), "kind": "saved_model", "accuracy": baseline["accuracy"]}]
    for kind, path in paths.items():
        lite = tflite.LiteModel(path)
        result = evaluation.scores(labels, lite.predict(images))
        rows.append(
            {
                "file": str(path),
                "kind": kind,
                "bytes": path.stat().st_size,
                "accuracy": result["accuracy"],
                "accuracy_change_points": round(
                    100 * (result["accuracy"] - baseline["accuracy"]), 3
                ),
                **{k: round(v, 4) for k, v in lite.latency_ms(images[0]).items()},
            }
        )
    report = {"saved_model": str(saved_model), "test_images": int(len(labels)), "models": rows}
    (Path(out_dir) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        report = run(flags.FLAGS)
    print(json.dumps(report), flush=True)
