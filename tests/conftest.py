"""Shared fixtures: MNIST prepared once from the offline copy, and no network.

Tests never download: the official files come from ``$MNIST_MANUAL_DIR`` or, failing
that, ``../shared/datasets/mnist`` beside the checkout. Any attempt to open a socket to a
non-loopback address fails the test that made it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_convnet import versions

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "datasets" / "mnist"


def _manual_dir() -> Path:
    env = os.environ.get("MNIST_MANUAL_DIR")
    folder = Path(env) if env else SHARED_MNIST
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(
            f"MNIST files not found in {folder}: set MNIST_MANUAL_DIR to a folder with the "
            "four official .gz files (tests never download)",
            pytrace=False,
        )
    return folder.resolve()


_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6):
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise OSError(f"tests may not reach the network (tried {address})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def no_network():
    socket.socket.connect = _loopback_only_connect
    yield
    socket.socket.connect = _real_connect


@pytest.fixture(scope="session")
def manual_dir() -> Path:
    return _manual_dir()


def _run_folder(tmp_path_factory) -> Path:
    """This test run's folder: under pytest-xdist (``make test`` runs a worker per core)
    each worker's base folder lies inside it, so the workers can share what they build."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _one_worker_at_a_time(lock_file: Path) -> Iterator[None]:
    """The first worker to get here builds; the others wait, then find it built."""
    with open(lock_file, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def data_dir(request, tmp_path_factory, manual_dir) -> Path:
    """A tfds data dir with MNIST prepared from the manual dir (about 13 s), kept in
    pytest's cache folder, so that only the first run of a checkout prepares it (as tfds
    keeps ``~/tensorflow_datasets``); with ``-p no:cacheprovider``, once a run.

    A prepared dataset is never half-written: tfds prepares into ``incomplete.*`` and
    renames. test_data.py still prepares from the files into folders of its own.
    """
    from mnist_convnet.training import data

    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("tfds") if cache else _run_folder(tmp_path_factory) / "tfds"
    with _one_worker_at_a_time(folder.with_suffix(".lock")):
        data.load(str(folder), str(manual_dir))
    return folder


@pytest.fixture(scope="session")
def mnist(data_dir):
    from mnist_convnet.training import data

    return data.load(str(data_dir), None)


@pytest.fixture(scope="session")
def short_run(mnist, tmp_path_factory):
    """Two epochs cut to 150 real steps each (about 38,000 images) of the default recipe,
    with logs and checkpoints: enough points for curves, enough training to read digits.

    Trained once a run: another worker resumes the finished checkpoint, which trains
    nothing and hands back the same weights, history and test scores (the resume tests
    check that a resumed run is the run).

    Returns ``(loop.Result, folder)``; about 97% test accuracy, enough to read real digits.
    """
    from mnist_convnet.training import loop
    from mnist_convnet.training.config import Config

    folder = _run_folder(tmp_path_factory) / "short_run"
    config = Config(epochs=2, max_steps_per_epoch=150, seed=0, verbose=False)
    with _one_worker_at_a_time(folder.with_suffix(".lock")):
        logs = None if (folder / "ckpt").exists() else str(folder / "logs")  # written once
        result = loop.train_and_evaluate(
            config, mnist, log_dir=logs, checkpoint_dir=str(folder / "ckpt")
        )
    assert result.history and len(result.history) == config.epochs
    return result, folder


@pytest.fixture(scope="session")
def exported(short_run, tmp_path_factory) -> Path:
    """The short run's model exported as version 1 under a base folder of its own (once a
    run; tests only read it, or copy it)."""
    from mnist_convnet.export import saved_model

    base = _run_folder(tmp_path_factory) / "models" / "mnist_convnet"
    with _one_worker_at_a_time(base.parent.with_suffix(".lock")):
        if not versions.numbers(base):
            saved_model.export_saved_model(short_run[0].model, base)
    return base / "1"


@pytest.fixture(scope="session")
def saved_model(exported):
    """``tf.saved_model.load`` of the export, once a worker: every load is a graph of its
    own whose signatures each pay their first call again (~1-2 s for the image ones)."""
    import tensorflow as tf

    return tf.saved_model.load(str(exported))


@pytest.fixture(scope="session")
def reader_file(exported, tmp_path_factory) -> Path:
    """``reader.tflite`` of the short run's export (about 20 s to convert, once a run)."""
    from mnist_convnet import files
    from mnist_convnet.export import tflite

    path = _run_folder(tmp_path_factory) / "reader" / "reader.tflite"
    with _one_worker_at_a_time(path.parent.with_suffix(".lock")):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            reader = tflite.Reader.from_saved_model(exported)
            files.write_whole(path, tflite.convert_reader(reader))
    return path


@pytest.fixture(scope="session")
def trainable_file(exported, mnist, tmp_path_factory) -> Path:
    """``trainable.tflite`` of the short run's export, once a run."""
    from mnist_convnet.export import trainable
    from mnist_convnet.reading import inference
    from mnist_convnet.training import data

    path = _run_folder(tmp_path_factory) / "trainable" / trainable.FILE
    with _one_worker_at_a_time(path.parent.with_suffix(".lock")):
        if not path.exists():
            images, labels = data.as_numpy(mnist.train, trainable.REPLAY)
            trainable.write(inference.load_keras_model(exported), images, labels, path.parent)
    return path


@pytest.fixture(scope="session")
def test_digits(mnist):
    """The first 20 test images as uint8 [20, 28, 28] and their labels."""
    import numpy as np

    from mnist_convnet.training import data

    images, labels = data.as_numpy(mnist.test, 20)
    return np.round(images[..., 0] * 255).astype(np.uint8), labels


# `make test` runs `--dist=loadscope` with the scheduler below: a file's tests stay on one
# worker, so its module fixtures are built once — except in these files, which have none
# and hold the longest tests, so their tests are shared out one by one to whichever worker
# is free.
SPREAD_OUT = {"test_train.py", "test_loop.py", "test_main.py"}


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with our scopes: the file, or the test in ``SPREAD_OUT``.

    Not ``--dist=loadgroup`` with an ``xdist_group`` mark per file: that works by appending
    the group to ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is built
    from ``item._id``), so every test became a group of its own and every module fixture
    was built on both workers (tests/test_suite.py runs a suite to keep this honest).
    """
    if config.getvalue("dist") != "loadscope":
        return None  # another mode asked for: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if Path(path).name in SPREAD_OUT else path

    return ByFile(config, log)
