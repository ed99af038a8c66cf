"""plots.py: each figure is drawn from real arrays and is a picture, not a blank canvas."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mnist_convnet.figures import plots


def _pixels(fig) -> np.ndarray:
    png = plots.to_png(fig, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float32)


def test_worst_indices_orders_mistakes_by_confidence():
    probabilities = np.array(
        [
            [0.9, 0.1, 0, 0, 0, 0, 0, 0, 0, 0],  # right
            [0.3, 0.7, 0, 0, 0, 0, 0, 0, 0, 0],  # wrong, p=0.7
            [0.05, 0.95, 0, 0, 0, 0, 0, 0, 0, 0],  # wrong, p=0.95
            [0.4, 0.6, 0, 0, 0, 0, 0, 0, 0, 0],  # wrong, p=0.6
        ]
    )
    labels = np.array([0, 0, 0, 0])
    assert plots.worst_indices(probabilities, labels, 2).tolist() == [2, 1]
    assert plots.worst_indices(probabilities, labels, 10).tolist() == [2, 1, 3]


def test_sobel_kernels_are_the_articles():
    assert plots.SOBEL_VERTICAL.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert plots.SOBEL_HORIZONTAL.tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]


def test_a_blank_figure_would_be_caught():
    """The non-blank check used on every plot below does reject an empty figure."""
    from matplotlib.figure import Figure

    assert _pixels(Figure(figsize=(4, 3))).var() == 0


def test_confusion_matrix_draws_counts():
    counts = np.diag(np.full(10, 100)) + 1
    assert _pixels(plots.confusion_matrix(counts)).var() > 100
