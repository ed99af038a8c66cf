"""The article's pictures, drawn from a model we trained: one pure function per figure.

Each function takes arrays (a training history, test images and their probabilities, a
layer's weights) and returns a ``matplotlib.figure.Figure``; none reads files or touches
pyplot's global state, so they are easy to test and to call from a notebook.

    training_curves        loss and accuracy per epoch, train vs validation
    confusion_matrix       counts[true, predicted] on the test split
    worst_misclassified    the wrong answers the model was surest of
    first_layer_filters    conv1's 3x3 kernels, one small image each
    feature_maps           one digit after each conv and pooling layer
    sobel_demo             the article's edge detectors on a real digit
    dlogits_statistics     ∂L/∂z = p − y: its mean size per epoch, and on the test split
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from mnist_convnet.network.model import NUM_CLASSES

# The article's Sobel kernels: the vertical one responds to left-to-right changes in
# brightness (vertical edges), its transpose to top-to-bottom changes (horizontal edges).
SOBEL_VERTICAL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
SOBEL_HORIZONTAL = SOBEL_VERTICAL.T.copy()


def _per_epoch(ax, history: dict[str, list[tuple[int, float]]], metric: str) -> None:
    """Train and validation values of one logged metric against epoch, on ``ax``."""
    for split, style in (("train", "o-"), ("val", "s--")):
        points = history.get(f"{split}_{metric}", [])
        if points:
            epochs, values = zip(*points)
            ax.plot(epochs, values, style, label=split)
    ax.set_xlabel("epoch")


def training_curves(history: dict[str, list[tuple[int, float]]]) -> Figure:
    """Loss and accuracy against epoch; ``history[tag]`` is a list of (epoch, value)."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        _per_epoch(ax, history, metric)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_matrix(counts: np.ndarray) -> Figure:
    """counts[true, predicted] as a heat map with every count written in its cell."""
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.subplots()
    # Log colour scale: the diagonal holds ~1,000 per cell, mistakes a handful.
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    threshold = np.log1p(counts).max() / 2
    for (true, pred), n in np.ndenumerate(counts):
        colour = "white" if np.log1p(n) > threshold else "black"
        ax.text(pred, true, str(n), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"confusion matrix, {counts.sum():,} test digits, accuracy {accuracy:.2%}")
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    return fig


def worst_indices(probabilities: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the misclassified images, most confident mistake first."""
    predicted = probabilities.argmax(-1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def worst_misclassified(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, count: int = 24
) -> Figure:
    """A grid of the mistakes the model was surest of: true label, prediction, p."""
    worst = worst_indices(probabilities, labels, count)
    cols = 8
    rows = max(1, math.ceil(len(worst) / cols))
    fig = Figure(figsize=(cols * 1.4, rows * 1.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, worst):
        predicted = probabilities[i].argmax()
        ax.imshow(images[i].squeeze(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(
            f"true {labels[i]}, said {predicted}\np={probabilities[i, predicted]:.2f}", fontsize=8
        )
    fig.suptitle(f"the {len(worst)} most confident mistakes on the test split")
    return fig


def first_layer_filters(kernel: np.ndarray) -> Figure:
    """Each filter of a first convolution (kernel [kh, kw, 1, K]) as a small image.

    Red is a positive weight, blue a negative one, on a colour scale shared by all
    filters, so strong and weak filters can be compared; compare them with the Sobel
    kernels: many learn to be edge detectors.
    """
    filters = kernel[:, :, 0, :]
    count = filters.shape[-1]
    cols = 8
    rows = math.ceil(count / cols)
    limit = np.abs(filters).max() or 1.0
    fig = Figure(figsize=(cols * 1.2, rows * 1.3 + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.axis("off")
        if k < count:
            ax.imshow(filters[:, :, k], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(k), fontsize=8)
    fig.suptitle(f"the {count} first-layer filters ({filters.shape[0]}x{filters.shape[1]})")
    return fig


def feature_maps(
    digit: np.ndarray, maps: list[tuple[str, np.ndarray]], per_layer: int = 16
) -> Figure:
    """One digit, then its maps after each layer; ``maps`` is [(layer name, [H, W, C])]."""
    rows = len(maps) + 1
    fig = Figure(figsize=(per_layer * 0.9, rows * 1.2), layout="constrained")
    axes = fig.subplots(rows, per_layer, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(digit.squeeze(), cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    for row, (name, fmap) in enumerate(maps, start=1):
        for k in range(min(per_layer, fmap.shape[-1])):
            axes[row, k].imshow(fmap[:, :, k], cmap="viridis")
        axes[row, 0].set_title(
            f"{name} {fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fontsize=8, loc="left"
        )
    fig.suptitle(f"feature maps of one test digit (first {per_layer} channels per layer)")
    return fig


def sobel_demo(digit: np.ndarray, vertical: np.ndarray, horizontal: np.ndarray) -> Figure:
    """The digit beside its vertical- and horizontal-Sobel responses (same size)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(digit.squeeze(), cmap="gray")
    axes[0].set_title("a test digit")
    limit = max(np.abs(vertical).max(), np.abs(horizontal).max()) or 1.0
    for ax, response, kernel, name in (
        (axes[1], vertical, SOBEL_VERTICAL, "vertical Sobel: vertical edges"),
        (axes[2], horizontal, SOBEL_HORIZONTAL, "horizontal Sobel: horizontal edges"),
    ):
        image = ax.imshow(response.squeeze(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{name}\n{kernel.astype(int).tolist()}", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes[1:], shrink=0.8, label="response")
    return fig


def dlogits_statistics(history: dict[str, list[tuple[int, float]]], dlogits: np.ndarray) -> Figure:
    """∂L/∂z = p − y over training (mean ‖p − y‖ per epoch) and, per image, on the test split.

    ‖p − y‖ lies in [0, √2]: near 0 the image no longer moves the weights, near √2 the
    model is confidently wrong. ``dlogits`` is p − y for each test image [N, 10].
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    _per_epoch(left, history, "dlogits_norm")
    left.set_ylabel("mean ‖∂L/∂z‖ = mean ‖p − y‖")
    left.set_yscale("log")
    left.set_title("how hard the loss still pushes, per epoch")
    left.grid(alpha=0.3, which="both")
    left.legend()

    norms = np.linalg.norm(dlogits, axis=-1)
    bins = np.logspace(-6, math.log10(math.sqrt(2)), 40)
    right.hist(np.clip(norms, bins[0], None), bins=bins, color="tab:purple")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("‖p − y‖ per test image (below 1e-6 counted at 1e-6)")
    right.set_ylabel("images")
    right.set_title(f"test split: median {np.median(norms):.1e}, max {norms.max():.2f}")
    return fig


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
