"""What the pictures show, gathered from a trained model, its logs and the test split.

``plots.py`` draws the figures from arrays; this module finds those arrays — the training
history in the TensorBoard logs, every layer's maps for one digit, the Sobel responses —
and writes the figures as PNG files and TensorBoard images. ``commands/visualize.py`` is its
command line (``mnist-convnet visualize``, ``make plots``).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from tensorboard.backend.event_processing import event_accumulator

from mnist_convnet import files
from mnist_convnet.errors import UserError
from mnist_convnet.figures import evaluation, plots
from mnist_convnet.network import backprop
from mnist_convnet.network import model as model_lib

History = dict[str, list[tuple[int, float]]]


def find_run(log_dir: str | os.PathLike) -> Path:
    """``log_dir`` if it holds event files, else its newest sub-folder that does."""
    folder = Path(log_dir)
    if not folder.is_dir():
        raise UserError(f"no such log folder: {folder}")
    if any(folder.glob("events.out.tfevents.*")):
        return folder
    runs = sorted(p for p in folder.iterdir() if any(p.glob("events.out.tfevents.*")))
    if not runs:
        raise UserError(f"no TensorBoard event files in {folder} or its sub-folders")
    return runs[-1]


def read_history(run_dir: str | os.PathLike) -> History:
    """Every scalar the loop logged, as {tag: [(epoch, value), ...]}, read with TensorBoard."""
    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return {
        tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def layer_outputs(model: keras.Sequential, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The maps one image [28, 28, 1] produces after each convolution and pooling layer."""
    kinds = (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    h = tf.constant(image[None], tf.float32)
    maps = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Flatten):
            break
        h = layer(h, training=False)
        if isinstance(layer, kinds):
            maps.append((layer.name, h[0].numpy()))
    return maps


def sobel_responses(digit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The article's vertical and horizontal Sobel kernels on a digit [28, 28, 1], with
    one pixel of zero padding so the responses stay 28x28 — our own ``conv2d_forward``."""
    x = backprop.pad_forward(tf.constant(digit[None], tf.float32), 1)
    responses = [
        backprop.conv2d_forward(x, tf.constant(kernel[:, :, None, None]))[0].numpy()
        for kernel in (plots.SOBEL_VERTICAL, plots.SOBEL_HORIZONTAL)
    ]
    return responses[0], responses[1]


def draw_all(
    model: keras.Sequential,
    history: History,
    images: np.ndarray,
    labels: np.ndarray,
    digit_index: int = 0,
) -> dict[str, Figure]:
    """Every picture, by file name (without .png), for a model and its test split."""
    probabilities = model.predict(images, batch_size=1000, verbose=0)
    one_hot = np.eye(model_lib.NUM_CLASSES, dtype=np.float32)[labels]
    counts = np.array(
        evaluation.confusion_matrix(labels, probabilities.argmax(-1), model_lib.NUM_CLASSES)
    )
    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    digit = images[digit_index]
    return {
        "training_curves": plots.training_curves(history),
        "confusion_matrix": plots.confusion_matrix(counts),
        "worst_misclassified": plots.worst_misclassified(images, labels, probabilities),
        "first_layer_filters": plots.first_layer_filters(first_conv.kernel.numpy()),
        "feature_maps": plots.feature_maps(digit, layer_outputs(model, digit)),
        "sobel": plots.sobel_demo(digit, *sobel_responses(digit)),
        "dlogits": plots.dlogits_statistics(history, probabilities - one_hot),
    }


def write_pngs(figures: dict[str, Figure], out_dir: str | os.PathLike) -> list[Path]:
    """Each figure as ``<out_dir>/<name>.png``, each written whole (temp file + rename)."""
    out = files.writable_dir(out_dir)
    return [
        files.write_whole(out / f"{name}.png", plots.to_png(fig)) for name, fig in figures.items()
    ]


def write_image_summaries(pngs: list[Path], run_dir: Path) -> Path:
    """The same PNGs as TensorBoard images, in ``<run_dir>/plots`` (its Images tab)."""
    folder = run_dir / "plots"
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default(step=0):
        for png in pngs:
            image = tf.io.decode_png(png.read_bytes(), channels=4)
            tf.summary.image(png.stem, image[None], step=0)
    writer.flush()
    return folder
