"""evaluation.py: accuracy, loss, confusion matrix and per-class scores, by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np

from mnist_convnet.figures import evaluation


def test_scores_on_a_small_known_case():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    result = evaluation.scores(labels, predicted=predicted)
    assert result["accuracy"] == 4 / 6
    counts = np.array(result["confusion_matrix"])
    assert counts[0, 0] == 1 and counts[0, 1] == 1 and counts[2, 0] == 1 and counts.sum() == 6
    assert result["precision"][:3] == [0.5, 0.5, 1.0]  # column-wise: correct / predicted
    assert result["recall"][:3] == [0.5, 1.0, round(2 / 3, 4)]  # row-wise: correct / true
    assert result["loss"] is None


def test_loss_is_mean_cross_entropy():
    probabilities = np.full((2, 10), 0.05)
    probabilities[0, 3], probabilities[1, 7] = 0.55, 0.55
    result = evaluation.scores(np.array([3, 1]), probabilities)
    assert math.isclose(result["loss"], (-math.log(0.55) - math.log(0.05)) / 2)
    assert result["accuracy"] == 0.5


def test_table_shows_every_class():
    result = evaluation.scores(np.arange(10), predicted=np.arange(10))
    text = evaluation.table(result)
    assert "accuracy 1.0000" in text and len(text.splitlines()) == 13


def test_classes_absent_from_labels_or_predictions_score_zero_and_stay_valid_json():
    """Three of ten classes in a small test set: recall of the other seven is 0/0, which must
    not become NaN (``json.dumps`` would write it, and no JSON parser reads it back)."""
    result = evaluation.scores(np.array([0, 1, 1]), predicted=np.array([0, 1, 2]), num_classes=10)
    assert result["recall"][3:] == [0.0] * 7
    assert result["precision"][3:] == [0.0] * 7
    assert result["precision"][2] == 0.0 and result["recall"][1] == 0.5
    json.loads(json.dumps(result, allow_nan=False))


def test_evaluation_needs_neither_tensorflow_nor_tfds():
    """Scoring is NumPy: a TF Lite-only deployment can import it."""
    code = (
        "import sys; import mnist_convnet.figures.evaluation; "
        "heavy = ('tensorflow', 'tensorflow_datasets', 'keras'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
