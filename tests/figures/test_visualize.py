"""visualize.py: `mnist-convnet visualize` draws every picture from a short real run."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from mnist_convnet.figures import visualize
from mnist_convnet.training import data
from tests.helpers import run_python

EXPECTED = {
    "training_curves",
    "confusion_matrix",
    "worst_misclassified",
    "first_layer_filters",
    "feature_maps",
    "sobel",
    "dlogits",
}


def test_history_is_read_back_from_the_tensorboard_logs(short_run):
    result, folder = short_run
    run = visualize.find_run(folder / "logs")
    history = visualize.read_history(run)
    assert [epoch for epoch, _ in history["val_accuracy"]] == [1, 2]
    for (_, logged), record in zip(history["train_loss"], result.history):
        assert logged == pytest.approx(record["train_loss"], rel=1e-6)


def test_sobel_responses_use_the_articles_kernels_with_same_padding():
    digit = np.zeros((28, 28, 1), np.float32)
    digit[:, 14:] = 1.0  # dark left half, bright right half: one vertical edge
    vertical, horizontal = visualize.sobel_responses(digit)
    assert vertical.shape == horizontal.shape == (28, 28, 1)
    assert vertical[10, 13, 0] == 4 and vertical[10, 14, 0] == 4  # 1 + 2 + 1 across the edge
    assert vertical[10, 5, 0] == 0 and vertical[10, 20, 0] == 0
    assert np.all(horizontal[1:-1] == 0)  # no horizontal edge away from the padded border


def test_layer_outputs_follow_the_network(short_run, mnist):
    model = short_run[0].model
    image, _ = data.as_numpy(mnist.test, 1)
    maps = visualize.layer_outputs(model, image[0])
    assert [m.shape for _, m in maps] == [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64)]


@pytest.mark.slow
def test_visualize_writes_every_plot_and_tensorboard_images(
    exported, short_run, data_dir, tmp_path
):
    _, folder = short_run
    out = tmp_path / "plots"
    logs = tmp_path / "logs"
    # A copy of the run's logs, so the image summaries do not change the shared fixture.
    import shutil

    shutil.copytree(folder / "logs", logs)
    process = run_python(
        "-m",
        "mnist_convnet",
        "visualize",
        f"--model_dir={exported.parent}",
        f"--log_dir={logs}",
        f"--out_dir={out}",
        f"--data_dir={data_dir}",
    )
    assert process.returncode == 0, process.stderr[-2000:]
    summary = json.loads(process.stdout.strip().splitlines()[-1])
    assert {p.rsplit("/", 1)[-1][:-4] for p in summary["plots"]} == EXPECTED
    for name in EXPECTED:
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        image = Image.open(io.BytesIO(png))
        assert 300 <= image.width <= 3000 and 200 <= image.height <= 3000, (name, image.size)
        assert np.asarray(image.convert("L"), np.float32).var() > 100, f"{name} looks blank"
    assert not list(out.glob(".*partial"))

    accumulator = event_accumulator.EventAccumulator(
        summary["tensorboard"], size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    assert set(accumulator.Tags()["tensors"]) == EXPECTED
    event = accumulator.Tensors("sobel")[0]
    assert tf.make_ndarray(event.tensor_proto).shape[0] == 3  # width, height, one PNG


@pytest.mark.slow
def test_visualize_without_a_model_is_one_clear_error(tmp_path, data_dir):
    process = run_python(
        "-m",
        "mnist_convnet",
        "visualize",
        f"--model_dir={tmp_path}/none",
        f"--out_dir={tmp_path}/plots",
        f"--data_dir={data_dir}",
    )
    assert process.returncode == 2
    assert process.stderr.strip().splitlines()[-1].startswith("error: no such file or folder")
    assert not (tmp_path / "plots").exists()
