"""Score any trained model on the MNIST test split.

    mnist-convnet evaluate saved_models/mnist_convnet            # latest SavedModel version
    mnist-convnet evaluate saved_models/mnist_convnet_tflite/1/int8.tflite
    mnist-convnet evaluate model.keras

Prints a readable confusion matrix with per-class precision and recall, then one JSON line
with the same numbers (accuracy, loss, confusion_matrix, precision, recall).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import sys  # noqa: E402

from absl import app, flags  # noqa: E402

from mnist_convnet import common_flags, data, evaluation, inference  # noqa: E402
from mnist_convnet.errors import exit_on_user_error  # noqa: E402

common_flags.define_data_flags()


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("usage: mnist-convnet evaluate PATH (SavedModel, .tflite or .keras)")
    with exit_on_user_error():
        classify = inference.load_classifier(argv[1])
        images, labels = data.as_numpy(common_flags.load_datasets(flags.FLAGS).test)
        result = {"path": argv[1], **evaluation.scores(labels, classify(images))}
    print(evaluation.table(result), file=sys.stderr)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    app.run(main)
