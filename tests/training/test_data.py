"""data.py: the three splits, their contents, the per-epoch order, and bad input files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mnist_convnet.errors import DataError
from mnist_convnet.training import data
from testbed.idx import read_idx
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


def test_augmented_batches_depend_only_on_seed_epoch_and_index(mnist):
    """Augmentation draws from (seed, epoch, batch index): the same epoch gives the same
    batches, a resumed one (batches skipped) the ones an unbroken epoch has there; the
    labels and the order are augment=0's."""

    def batches(seed: int, skip: int = 0, augment: float = 1.0):
        ds = data.train_batches(mnist.train, mnist.num_train, 256, 2, seed, augment)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(3).skip(skip)]

    first = batches(seed=5)
    plain = batches(seed=5, augment=0.0)
    for (x, y), (x_again, _), (x_plain, y_plain) in zip(first, batches(seed=5), plain):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_plain)
        assert not np.array_equal(x, x_plain) and 0.0 <= x.min() and x.max() <= 1.0
    for (x, _), (x_resumed, _) in zip(first[2:], batches(seed=5, skip=2)):
        np.testing.assert_array_equal(x, x_resumed)
    assert not np.array_equal(first[0][0], batches(seed=6)[0][0])


def test_train_batches_cover_the_split_once(mnist):
    batches = data.train_batches(mnist.train, mnist.num_train, 128, epoch=3, seed=0)
    sizes = [int(labels.shape[0]) for _, labels in batches]
    assert sum(sizes) == 54_000 and len(sizes) == 422 and sizes[-1] == 54_000 - 421 * 128


# --- the decoded copy -----------------------------------------------------------------


def _numpy(ds) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(x.numpy(), y.numpy()) for x, y in ds.batch(10_000)]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def test_the_saved_copy_holds_what_tfds_decodes_in_the_same_order(data_dir, mnist):
    """The splits every test above reads come from the copy; here it is held against
    tfds' own decoding (the test and validation splits, 16,000 images)."""
    builder = tfds.builder("mnist", data_dir=str(data_dir))
    assert data._decoded_dir(builder).is_dir()  # the first load saved it
    saved, decoded = data.decoded_splits(builder), data._tfds_splits(builder)
    for i in (1, 2):
        (images, labels), (want_images, want_labels) = _numpy(saved[i]), _numpy(decoded[i])
        assert images.dtype == np.uint8 and len(labels) in (6_000, 10_000)
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)


def _tiny_splits(n: int = 7) -> list[tf.data.Dataset]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    return [tf.data.Dataset.from_tensor_slices((images, labels)) for _ in data.SPLITS]


def test_the_first_load_saves_the_copy_and_later_ones_read_it(tmp_path, monkeypatch):
    builder = tfds.builder("mnist", data_dir=str(tmp_path))
    Path(builder.data_dir).mkdir(parents=True)
    decodes = []
    monkeypatch.setattr(data, "_tfds_splits", lambda b: decodes.append(b) or _tiny_splits())
    data.decoded_splits(builder)
    assert len(decodes) == 1 and data._decoded_dir(builder).is_dir()
    again = data.decoded_splits(builder)
    assert len(decodes) == 1  # read from the copy, not decoded again
    for got, want in zip(again, _tiny_splits()):
        for a, b in zip(_numpy(got), _numpy(want)):
            np.testing.assert_array_equal(a, b)


def test_a_save_cut_short_leaves_nothing(tmp_path, monkeypatch):
    real_save, saved = tf.data.Dataset.save, []

    def save_then_fail(ds, path, **kwargs):
        if saved:  # the second split: a full disk
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        saved.append(path)
        real_save(ds, path, **kwargs)

    monkeypatch.setattr(tf.data.Dataset, "save", save_then_fail)
    data.save_decoded(tmp_path / "decoded-x", _tiny_splits())
    assert saved and list(tmp_path.iterdir()) == []


def test_a_copy_that_came_first_is_kept(tmp_path):
    folder = tmp_path / "decoded-x"
    data.save_decoded(folder, _tiny_splits(7))
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    data.save_decoded(folder, _tiny_splits(5))  # a second process, late
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    assert list(tmp_path.iterdir()) == [folder]
    images, _ = _numpy(tf.data.Dataset.load(str(folder / "test")))
    np.testing.assert_array_equal(images, _numpy(_tiny_splits(7)[2])[0])


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


def test_an_unreachable_download_host_is_refused_at_once_with_the_remedy(monkeypatch):
    """Nothing listens on 127.0.0.1:443 here: refused at once, the way an offline machine
    refuses (no DNS, no route), and the error says what to do instead."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DataError) as error:
        data.check_reachable("https://127.0.0.1/")
    message = str(error.value)
    assert "cannot reach 127.0.0.1" in message and "--manual_dir=FOLDER" in message
    assert "MNIST_MANUAL_DIR" in message
    for name, (_, sha256) in data.MNIST_FILES.items():
        assert f"{name}  sha256 {sha256}" in message


# `mnist-convnet train` on a machine with no network: every connection fails as it does
# offline, in a child process, with no manual dir and a fresh tfds folder.
_OFFLINE_TRAIN = """
import runpy, socket, sys
def offline(*args, **kwargs):
    raise OSError(101, "Network is unreachable")
socket.create_connection = offline
sys.argv = ["mnist-convnet", *sys.argv[1:]]
runpy.run_module("mnist_convnet", run_name="__main__")
"""


@pytest.mark.slow
def test_cli_offline_without_a_manual_dir_is_one_error_naming_the_remedy(tmp_path):
    result = run_python(
        "-c",
        _OFFLINE_TRAIN,
        "train",
        "--epochs=1",
        f"--data_dir={tmp_path / 'tfds'}",
        f"--export_dir={tmp_path / 'export'}",
        f"--log_dir={tmp_path / 'logs'}",
        timeout=120,  # tfds' own retries took 3.5 minutes before this check
        MNIST_MANUAL_DIR=None,
        HTTPS_PROXY=None,
        https_proxy=None,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach storage.googleapis.com" in errors[0]
    assert "--manual_dir=FOLDER" in result.stderr and "t10k-images-idx3-ubyte.gz" in result.stderr


def test_behind_a_proxy_the_download_is_left_to_it(monkeypatch):
    """A direct connection says nothing when downloads go through $HTTPS_PROXY."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    data.check_reachable("https://127.0.0.1/")  # refused directly; no error: the proxy decides
