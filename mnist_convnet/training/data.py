"""MNIST from tensorflow-datasets, as the batched pipelines the training loop consumes.

The keras.io recipe holds out ``validation_split=0.1`` of the training data, which Keras
takes from the *end* of the array. tfds can express exactly that as split slices:

    train       = "train[:90%]"   54,000 images, seen by the optimizer
    validation  = "train[90%:]"    6,000 images, watched every epoch
    test        = "test"          10,000 images, evaluated once, at the end

Images become float32 in [0, 1] with a channel axis, shape (28, 28, 1); labels stay int64.
Decoding happens once per machine: the first process to load MNIST saves the decoded
splits beside tfds' files (``decoded_splits``), later ones read those. Scaling happens
once per process (``cache``); each epoch reshuffles the training images
with a seed derived from ``(seed, epoch)``, so any epoch's order can be reproduced on its
own — a resumed run sees the same batches as an uninterrupted one.

Offline use goes through tfds' own manual-dir mechanism: the four official ``.gz`` files
in a folder, still checksummed. Before handing the folder to tfds we check it ourselves,
because tfds quietly falls back to downloading any file it does not find there, and a
checksum failure deep in tfds is a page of text where one line would do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds

from mnist_convnet import files
from mnist_convnet.errors import DataError, first_line
from mnist_convnet.settings import MANUAL_DIR_ENV
from mnist_convnet.training import augment as augment_lib

SPLITS = {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"}

# The official files, as tfds registers them for its `mnist` builder: name -> (bytes, sha256).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        9_912_422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels-idx1-ubyte.gz": (
        28_881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "t10k-images-idx3-ubyte.gz": (
        1_648_877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        4_542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}


@dataclasses.dataclass(frozen=True)
class Datasets:
    """Unbatched ``(image, label)`` datasets, decoded, scaled and cached."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_validation: int
    num_test: int


def default_manual_dir() -> str | None:
    """``$MNIST_MANUAL_DIR`` when set: the folder with the official files, for offline use."""
    return os.environ.get(MANUAL_DIR_ENV) or None


def check_manual_dir(manual_dir: str | os.PathLike) -> None:
    """Raises ``DataError`` naming the first file that is missing or not the official one."""
    folder = Path(manual_dir)
    if not folder.is_dir():
        raise DataError(
            f"MNIST manual dir {folder} does not exist or is not a folder; it must hold "
            f"the four official files: {', '.join(MNIST_FILES)}"
        )
    for name, (size, sha256) in MNIST_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"MNIST file missing: {path} (expected {size:,} bytes)")
        actual_size = path.stat().st_size
        if actual_size != size:
            raise DataError(
                f"MNIST file {path} has {actual_size:,} bytes, expected {size:,} "
                "(truncated or not the official file)"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise DataError(
                f"MNIST file {path} has sha256 {digest}, expected {sha256} "
                "(corrupt or not the official file)"
            )


MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"  # where tfds downloads
REACH_SECONDS = 5.0


def check_reachable(url: str = MNIST_URL) -> None:
    """Raises ``DataError`` at once when the download host cannot be reached (no network,
    no DNS), saying what to do instead, rather than letting tfds retry for minutes."""
    host = urllib.parse.urlsplit(url).hostname
    if urllib.request.getproxies().get("https"):
        return  # the download goes through a proxy: a direct connection tells nothing
    try:
        socket.create_connection((host, 443), timeout=REACH_SECONDS).close()
    except OSError as error:
        files = "\n".join(f"  {name}  sha256 {digest}" for name, (_, digest) in MNIST_FILES.items())
        raise DataError(
            f"cannot reach {host} to download MNIST ({first_line(error)}). Offline, put the "
            f"four official files in a folder and pass --manual_dir=FOLDER (or set "
            f"${MANUAL_DIR_ENV}); they are at {url}:\n{files}"
        ) from None


def _prepare(builder: tfds.core.DatasetBuilder, manual_dir: str | None) -> None:
    """Runs tfds' download-and-prepare, reading the official files from ``manual_dir``."""
    if manual_dir is not None:
        check_manual_dir(manual_dir)
    else:
        check_reachable()
    tfds.display_progress_bar(sys.stderr.isatty())
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=config)
    except tfds.download.download_manager.NonMatchingChecksumError as error:
        # tfds prepares into an `incomplete.*` folder and renames it only on success, so
        # nothing half-written is left for a later run to trust.
        raise DataError(f"MNIST checksum mismatch: {first_line(error)}") from None
    except OSError as error:
        raise DataError(f"could not prepare MNIST in {builder.data_dir}: {error}") from None


def scale(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 pixels 0..255 -> float32 in [0, 1], the keras.io ``x / 255``."""
    return tf.cast(image, tf.float32) / 255.0, label


def load(data_dir: str | None = None, manual_dir: str | None = None) -> Datasets:
    """Prepares MNIST with tfds (once per ``data_dir``) and returns the three splits.

    Args:
      data_dir: where tfds keeps prepared data; ``None`` means tfds' default
        (``~/tensorflow_datasets``).
      manual_dir: folder with the four official ``.gz`` files for offline preparation;
        ``None`` lets tfds download them.
    """
    builder = tfds.builder("mnist", data_dir=data_dir)
    if not builder.is_prepared():
        _prepare(builder, manual_dir)
    train, validation, test = (_scaled(ds).cache() for ds in decoded_splits(builder))
    sizes = [builder.info.splits[name].num_examples for name in SPLITS.values()]
    return Datasets(train, validation, test, *sizes)


def scaled_splits(builder: tfds.core.DatasetBuilder) -> list[tf.data.Dataset]:
    """The three splits of a prepared builder, decoded by tfds and scaled on every pass
    (no cache, no saved copy: what ``bench/options.py``'s ``no_cache`` measures)."""
    return [_scaled(ds) for ds in _tfds_splits(builder)]


def _tfds_splits(builder: tfds.core.DatasetBuilder) -> list[tf.data.Dataset]:
    """(uint8 image, label) of each split, as tfds decodes them. tfds' own auto-cache is
    off: ``load`` caches the scaled images itself, and tfds would keep a second copy."""
    return builder.as_dataset(
        split=list(SPLITS.values()),
        as_supervised=True,
        read_config=tfds.ReadConfig(try_autocache=False),
    )


def _scaled(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Scaled a batch at a time: ``tf.data`` calls a map function once per element, so
    scaling the 54,000 training images one by one cost seconds of CPU at every start-up,
    and a batch is one call. The values are the same (an elementwise cast and
    divide)."""
    return ds.batch(_SCALE_BATCH).map(scale).unbatch()


_SCALE_BATCH = 1024


def decoded_splits(builder: tfds.core.DatasetBuilder) -> list[tf.data.Dataset]:
    """(uint8 image, label) of each split, in tfds' order, from the copy saved beside tfds'
    files; the first call on a machine decodes with tfds and saves it.

    Parsing tfds' records and decoding 70,000 PNGs cost seconds of CPU in every process
    that loaded MNIST (each ``make train``, each child process of the tests and
    benchmarks); reading the saved copy (``tf.data.Dataset.save``, 57 MB) a third of it.
    One shard, so it reads back in the order it was written: the same images and labels,
    in the same order, as tfds gives. It appears by one rename, as an export does, so a
    process never reads half of one; where the folder cannot be written, every process decodes.
    """
    folder = _decoded_dir(builder)
    if not folder.is_dir():
        save_decoded(folder, _tfds_splits(builder))
    if not folder.is_dir():
        return _tfds_splits(builder)
    return [tf.data.Dataset.load(str(folder / name)) for name in SPLITS]


def _decoded_dir(builder: tfds.core.DatasetBuilder) -> Path:
    """Named after the split definitions, so changing them never reads an old copy."""
    digest = hashlib.sha256(json.dumps(SPLITS, sort_keys=True).encode()).hexdigest()[:12]
    return Path(builder.data_dir) / f"decoded-{digest}"


def save_decoded(folder: Path, splits: list[tf.data.Dataset]) -> None:
    """Saves ``splits`` (one per name of SPLITS) as ``folder``, whole or not at all."""
    try:
        with files.staging(folder.parent, ".decoded-") as staging:
            for name, ds in zip(SPLITS, splits):
                ds.save(str(staging / name), shard_func=_one_shard)
            os.rename(staging, folder)  # fails if another process's copy came first
    except (OSError, tf.errors.OpError):
        pass  # a read-only tfds folder, that other copy, or a full disk: tfds decodes


def _one_shard(image: tf.Tensor, label: tf.Tensor) -> tf.Tensor:
    return tf.constant(0, tf.int64)


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a pure function of the run's seed and the epoch."""
    return seed * 1_000_003 + epoch


def train_batches(
    ds: tf.data.Dataset, size: int, batch_size: int, epoch: int, seed: int, augment: float = 0.0
) -> tf.data.Dataset:
    """One epoch of shuffled training batches; the order depends only on (seed, epoch), and
    with ``augment`` > 0 each batch is changed (``augment.augment``) with random numbers
    drawn from (seed, epoch, the batch's index): a resumed epoch gets the same batches."""
    batches = ds.shuffle(size, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False)
    batches = batches.batch(batch_size)
    if augment > 0:
        base = epoch_seed(seed, epoch)
        batches = batches.enumerate().map(
            lambda index, batch: (
                augment_lib.augment(
                    *batch, tf.stack([tf.constant(base, tf.int64), index]), augment
                ),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return batches.prefetch(tf.data.AUTOTUNE)


def eval_batches(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Batches in a fixed order, for validation and test."""
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def as_numpy(ds: tf.data.Dataset, limit: int | None = None):
    """A split as two arrays, ``(images float32 [N, 28, 28, 1], labels int64 [N])``."""
    if limit is not None:
        ds = ds.take(limit)
    images, labels = next(iter(ds.batch(1_000_000)))
    return images.numpy(), labels.numpy()


def shard_by_data(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Tells ``tf.distribute`` to split this dataset by element, not by input file.

    Every worker of a multi-worker run reads the same cached MNIST and keeps its own share
    of each global batch; file sharding would not work here (one file) and is what
    ``experimental_distribute_dataset`` tries first.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
