"""Draw the article's pictures from a trained model and its training logs.

    mnist-convnet visualize --model_dir=saved_models/mnist_convnet --log_dir=logs --out_dir=plots
    make plots

Writes into ``--out_dir`` (PNG): training_curves, confusion_matrix, worst_misclassified,
first_layer_filters, feature_maps, sobel, dlogits. ``--log_dir`` is a training run's
TensorBoard folder, or the folder of runs ``make train`` writes (its newest run is used);
the same pictures are added to that run as TensorBoard image summaries, under ``plots/``.
The figures themselves are drawn by ``plots.py``; this module gathers what they show.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402

from mnist_convnet import backprop, common_flags, data, evaluation, inference, plots  # noqa: E402
from mnist_convnet.errors import UserError, exit_on_user_error  # noqa: E402

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
    one_hot = np.eye(data.NUM_CLASSES, dtype=np.float32)[labels]
    counts = np.array(evaluation.confusion_matrix(labels, probabilities.argmax(-1)))
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
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot write to {out}: {error.strerror}") from None
    written = []
    for name, fig in figures.items():
        target = out / f"{name}.png"
        partial = out / f".{name}.png.partial"
        partial.write_bytes(plots.to_png(fig))
        os.replace(partial, target)
        written.append(target)
    return written


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


flags.DEFINE_string("out_dir", "plots", "Where the PNG files go.")
flags.DEFINE_integer("digit_index", 0, "Which test digit the feature maps and Sobel show.",
                     lower_bound=0, upper_bound=9999)  # fmt: skip
common_flags.define_model_dir_flag()
common_flags.define_data_flags()
flags.FLAGS.set_default("log_dir", "logs")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    with exit_on_user_error():
        model = inference.load_keras_model(FLAGS.model_dir)
        run_dir = find_run(FLAGS.log_dir) if FLAGS.log_dir else None
        history = read_history(run_dir) if run_dir else {}
        images, labels = data.as_numpy(common_flags.load_datasets(FLAGS).test)
        pngs = write_pngs(draw_all(model, history, images, labels, FLAGS.digit_index),
                          FLAGS.out_dir)  # fmt: skip
        summaries = write_image_summaries(pngs, run_dir) if run_dir else None
    for png in pngs:
        logging.info("wrote %s", png)
    print(json.dumps({"plots": [str(p) for p in pngs],
                      "tensorboard": str(summaries) if summaries else None}), flush=True)  # fmt: skip


if __name__ == "__main__":
    app.run(main)
