"""Scores of a classifier on labelled digits: accuracy, loss, confusion matrix, per class.

Model-agnostic: it takes the predicted probabilities (or just classes) and the true labels,
so the Keras model, a SavedModel and each TF Lite file are scored by the same code.
"""

from __future__ import annotations

import numpy as np

from mnist_convnet.data import NUM_CLASSES


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """counts[true, predicted], 10x10."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def scores(labels: np.ndarray, probabilities: np.ndarray | None = None,
           predicted: np.ndarray | None = None) -> dict:  # fmt: skip
    """Accuracy, mean cross-entropy (when probabilities are given), confusion matrix and
    per-class precision/recall. ``predicted`` defaults to the argmax of ``probabilities``."""
    labels = np.asarray(labels)
    if predicted is None:
        predicted = np.argmax(probabilities, axis=-1)
    counts = confusion_matrix(labels, predicted)
    correct = np.diag(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(counts.sum(0) > 0, correct / counts.sum(0), 0.0)
        recall = correct / counts.sum(1)
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
    lines = [f"accuracy {result['accuracy']:.4f}" + (
        f"   loss {result['loss']:.4f}" if result["loss"] is not None else ""
    ), "", "true\\pred " + " ".join(f"{c:>5d}" for c in range(NUM_CLASSES)) + "  precision recall"]  # fmt: skip
    for digit, row in enumerate(result["confusion_matrix"]):
        cells = " ".join(f"{v:>5d}" for v in row)
        lines.append(
            f"{digit:>9d} {cells}  {result['precision'][digit]:>9.4f} {result['recall'][digit]:>6.4f}"
        )
    return "\n".join(lines)
