"""Scores of a classifier on labelled digits: accuracy, loss, confusion matrix, per class.

Model-agnostic and NumPy only: it takes the predicted probabilities (or just classes) and
the true labels, so the Keras model, a SavedModel and each TF Lite file are scored by the
same code, and a deployment without TensorFlow can still use it.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted], ``num_classes`` × ``num_classes``."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def scores(
    labels: np.ndarray,
    probabilities: np.ndarray | None = None,
    predicted: np.ndarray | None = None,
    num_classes: int | None = None,
) -> dict:
    """Accuracy, mean cross-entropy (when probabilities are given), confusion matrix and
    per-class precision/recall. ``predicted`` defaults to the argmax of ``probabilities``.
    The number of classes is the probabilities' last axis, else ``num_classes``, else the
    largest class seen plus one."""
    labels = np.asarray(labels)
    if predicted is None:
        predicted = np.argmax(probabilities, axis=-1)
    if probabilities is not None:
        num_classes = np.shape(probabilities)[-1]
    elif num_classes is None:
        num_classes = int(max(labels.max(), np.max(predicted))) + 1
    counts = confusion_matrix(labels, predicted, num_classes)
    correct = np.diag(counts)
    # A class never predicted has no precision, one absent from the labels no recall:
    # both are reported as 0.0 (as scikit-learn does), never NaN, which is not JSON.
    precision = correct / np.maximum(counts.sum(0), 1)
    recall = correct / np.maximum(counts.sum(1), 1)
    result = {
        "examples": int(len(labels)),
        "accuracy": float(correct.sum() / len(labels)),
        "loss": None,
        "confusion_matrix": counts.tolist(),
        "precision": [round(float(v), 4) for v in precision],
        "recall": [round(float(v), 4) for v in recall],
    }
    if probabilities is not None:
        p_true = np.asarray(probabilities, np.float64)[np.arange(len(labels)), labels]
        result["loss"] = float(-np.mean(np.log(np.clip(p_true, 1e-12, 1.0))))
    return result


def table(result: dict) -> str:
    """The confusion matrix and per-class scores as text, for people."""
    loss = f"   loss {result['loss']:.4f}" if result["loss"] is not None else ""
    classes = range(len(result["confusion_matrix"]))
    header = "true\\pred " + " ".join(f"{c:>5d}" for c in classes) + "  precision recall"
    lines = [f"accuracy {result['accuracy']:.4f}{loss}", "", header]
    for digit, row in enumerate(result["confusion_matrix"]):
        cells = " ".join(f"{v:>5d}" for v in row)
        precision, recall = result["precision"][digit], result["recall"][digit]
        lines.append(f"{digit:>9d} {cells}  {precision:>9.4f} {recall:>6.4f}")
    return "\n".join(lines)
