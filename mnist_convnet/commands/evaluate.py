"""Score any trained model on the MNIST test split.

    mnist-convnet evaluate saved_models/mnist_convnet            # latest SavedModel version
    mnist-convnet evaluate saved_models/mnist_convnet_tflite/1/int8.tflite
    mnist-convnet evaluate model.keras

Prints a readable confusion matrix with per-class precision and recall, then one JSON line
with the same numbers (accuracy, loss, confusion_matrix, precision, recall).
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error

USAGE = "mnist-convnet evaluate PATH   (a SavedModel, .tflite or .keras)"

shared.define_data_flags()


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError(f"usage: {USAGE}")
    from mnist_convnet.figures import evaluation
    from mnist_convnet.reading import inference
    from mnist_convnet.training import data  # TensorFlow: not for --help

    with exit_on_user_error():
        classify = inference.load_classifier(argv[1])
        images, labels = data.as_numpy(shared.load_datasets(flags.FLAGS).test)
        result = {"path": argv[1], **evaluation.scores(labels, classify(images))}
    print(evaluation.table(result), file=sys.stderr)
    print(json.dumps(result), flush=True)
