"""data.py: the three splits, their contents, the per-epoch order, and bad input files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mnist_convnet import data
from mnist_convnet.errors import DataError
from mnist_convnet.testing.idx import read_idx
from tests.helpers import run_python

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def arrays(mnist):
    return {name: data.as_numpy(getattr(mnist, name)) for name in ("train", "validation", "test")}


def test_split_sizes(mnist, arrays):
    assert (mnist.num_train, mnist.num_validation, mnist.num_test) == (54_000, 6_000, 10_000)
    assert [len(arrays[n][1]) for n in ("train", "validation", "test")] == [54_000, 6_000, 10_000]


def test_images_are_scaled_float32_with_a_channel(arrays):
    images, labels = arrays["train"]
    assert images.dtype == np.float32 and images.shape[1:] == (28, 28, 1)
    assert images.min() == 0.0 and images.max() == 1.0
    # Scaled by 255, not some other constant: every pixel is k/255 for an integer k.
    # (Not assert_allclose: its bookkeeping over 42 million pixels took 9 s.)
    assert np.abs(images * 255 - np.round(images * 255)).max() < 1e-4
    assert labels.dtype == np.int64


def test_label_counts_match_the_official_files(arrays):
    train_labels = np.concatenate([arrays["train"][1], arrays["validation"][1]])
    assert np.bincount(train_labels, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(arrays["test"][1], minlength=10).tolist() == TEST_COUNTS


@pytest.mark.parametrize(
    "prefix, splits, first_labels",
    [
        ("train", ("train", "validation"), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
        ("t10k", ("test",), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
    ],
)
def test_first_images_of_the_files_carry_their_labels(
    manual_dir, arrays, prefix, splits, first_labels
):
    """tfds reorders examples, so find the files' first ten images by their pixels."""
    raw_images = read_idx(manual_dir / f"{prefix}-images-idx3-ubyte.gz")
    raw_labels = read_idx(manual_dir / f"{prefix}-labels-idx1-ubyte.gz")
    assert raw_labels[:10].tolist() == first_labels
    images = np.concatenate([arrays[s][0] for s in splits])
    labels = np.concatenate([arrays[s][1] for s in splits])
    as_uint8 = np.round(images[..., 0] * 255).astype(np.uint8).reshape(len(images), -1)
    index = {row.tobytes(): i for i, row in enumerate(as_uint8)}
    found = [labels[index[raw_images[k].tobytes()]] for k in range(10)]
    assert found == first_labels


@pytest.mark.slow
def test_validation_is_the_last_tenth_of_train(data_dir, arrays):
    import tensorflow_datasets as tfds

    full = tfds.load("mnist", split="train", data_dir=str(data_dir), as_supervised=True)
    _, all_labels = data.as_numpy(full)
    np.testing.assert_array_equal(all_labels[54_000:], arrays["validation"][1])
    np.testing.assert_array_equal(all_labels[:54_000], arrays["train"][1])


def _epoch_labels(mnist, epoch: int, seed: int) -> np.ndarray:
    batches = data.train_batches(mnist.train, mnist.num_train, 1000, epoch, seed).take(3)
    return np.concatenate([labels.numpy() for _, labels in batches])


def test_each_epoch_order_depends_only_on_seed_and_epoch(mnist):
    first = _epoch_labels(mnist, epoch=1, seed=7)
    np.testing.assert_array_equal(first, _epoch_labels(mnist, epoch=1, seed=7))
    assert not np.array_equal(first, _epoch_labels(mnist, epoch=2, seed=7))
    assert not np.array_equal(first, _epoch_labels(mnist, epoch=1, seed=8))


def test_train_batches_cover_the_split_once(mnist):
    batches = data.train_batches(mnist.train, mnist.num_train, 128, epoch=3, seed=0)
    sizes = [int(labels.shape[0]) for _, labels in batches]
    assert sum(sizes) == 54_000 and len(sizes) == 422 and sizes[-1] == 54_000 - 421 * 128


# --- bad input ---------------------------------------------------------------------------


@pytest.fixture
def copied_manual_dir(tmp_path, manual_dir):
    folder = tmp_path / "mnist"
    shutil.copytree(manual_dir, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_missing_manual_dir_names_it(tmp_path):
    with pytest.raises(DataError, match=r"manual dir .*nowhere does not exist"):
        data.load(str(tmp_path / "tfds"), str(tmp_path / "nowhere"))


def test_missing_file_is_named(tmp_path, copied_manual_dir):
    (copied_manual_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing: .*t10k-labels-idx1-ubyte\.gz"):
        data.load(str(tmp_path / "tfds"), str(copied_manual_dir))


def test_truncated_file_is_named_and_nothing_is_prepared(tmp_path, copied_manual_dir):
    path = copied_manual_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has 100,000 bytes"):
        data.load(str(tmp_path / "tfds"), str(copied_manual_dir))
    assert not list((tmp_path / "tfds").glob("mnist/*/dataset_info.json"))


def test_same_size_wrong_content_fails_the_checksum(tmp_path, copied_manual_dir):
    path = copied_manual_dir / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz has sha256 .*expected f7ae60"):
        data.load(str(tmp_path / "tfds"), str(copied_manual_dir))


@pytest.mark.slow
def test_cli_bad_manual_dir_is_one_line_and_exit_2(tmp_path):
    result = run_python(
        "-m",
        "mnist_convnet",
        "train",
        f"--manual_dir={tmp_path / 'nowhere'}",
        f"--data_dir={tmp_path / 'tfds'}",
        f"--export_dir={tmp_path / 'export'}",
        f"--log_dir={tmp_path / 'logs'}",
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: MNIST manual dir ")
