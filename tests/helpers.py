"""Helpers the test modules share: our CLIs, the server and the benchmarks run as a user
would run them."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from mnist_convnet.finder import find
from testbed.servers import wait_until_answering

# The finder as the signatures run it, traced once a worker for every test module that
# calls it (each tf.function of it is a trace of its own: ~3 s).
find_digit = tf.function(find.find_digit, input_signature=[tf.TensorSpec([], tf.string)])


def user_env(**env: str | None) -> dict[str, str]:
    """The environment a user's shell would give a child: this one, without the log level
    the test process set for itself (the entry point sets its own), plus ``env`` (a value
    of None removes a variable)."""
    child_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for name, value in env.items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    return child_env


def run_python(*args: str, cwd: Path | None = None, timeout: float = 600, **env: str | None):
    """Runs ``python ARGS`` in a child process; returns the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=user_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_bench(name: str, *flags: str, data_dir=None, timeout: float = 600) -> dict:
    """`python -m bench.NAME FLAGS` from the repository, as `make bench` runs it, with
    MNIST from ``data_dir`` (tfds' own variable, so that the bench's children use it too);
    asserts it exited 0 and returns the one JSON document it printed."""
    repo = Path(__file__).resolve().parent.parent
    env = {"TFDS_DATA_DIR": str(data_dir)} if data_dir else {}
    done = run_python("-m", f"bench.{name}", *flags, cwd=repo, timeout=timeout, **env)
    assert done.returncode == 0, f"bench.{name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def train_argv(data_dir, folder: Path, *flags: str) -> list[str]:
    """`python -m mnist_convnet train` as a user types it: MNIST from ``data_dir``, the
    export and checkpoints under ``folder``, then ``flags``."""
    return [
        sys.executable,
        "-m",
        "mnist_convnet",
        "train",
        f"--data_dir={data_dir}",
        f"--export_dir={folder / 'export'}",
        f"--checkpoint_dir={folder / 'ckpt'}",
        *flags,
    ]


def checkpoint_values(folder) -> dict[str, np.ndarray]:
    """Every saved value of the latest checkpoint in ``folder``, by name."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(folder)))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        # save_counter counts saves (one more for a stop on a signal), not training.
        if not name.startswith(("save_counter", "_CHECKPOINTABLE"))
    }


def assert_same_checkpoints(a, b) -> None:
    """The latest checkpoints of two runs hold the same weights, optimizer, RNG and position."""
    first, second = checkpoint_values(a), checkpoint_values(b)
    assert first.keys() == second.keys()
    assert any(name.startswith("rng/") for name in first)  # the dropout RNG state is saved
    for name in first:
        if name.startswith("history/"):  # the per-epoch records; only their timings differ
            strip = lambda raw: [
                {k: v for k, v in r.items() if k != "epoch_seconds"} for r in json.loads(raw)
            ]
            assert strip(first[name]) == strip(second[name])
        else:
            np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@contextlib.contextmanager
def serve_process(model_base, *flags: str):
    """`mnist-convnet serve` on a free port in a child process, as a user starts it; yields
    ``(process, url)`` with the url of the model, ``http://127.0.0.1:PORT/v1/models/mnist``."""
    import re

    command = [
        sys.executable,
        "-m",
        "mnist_convnet",
        "serve",
        f"--model_dir={model_base}",
        "--port=0",
        "--grpc_port=0",  # tests run side by side: never TF Serving's fixed 8500
        *flags,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=user_env()
    )
    try:
        url = re.search(r"on (http://\S+/v1/models/mnist)", process.stdout.readline()).group(1)
        wait_until_answering(url)
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


def parsed_flags():
    """absl's FLAGS marked as parsed, so a command's ``main`` can run in the test process
    with ``flagsaver`` setting its flags (as ``app.run`` would from a command line)."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    return flags.FLAGS


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images' pixels."""
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height black pixels, compressed ~1000:1, built row by row."""
    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
