"""distribute.py and the loop under tf.distribute: the same training, split across replicas.

Each run is a child process: a strategy (and the split of the CPU into logical devices)
must be set up before TensorFlow starts. LeNet-5 is used because it has no dropout: with
dropout each replica draws masks for its own rows, so weights agree only in distribution.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from mnist_convnet import versions
from mnist_convnet.training import distribute
from tests.helpers import checkpoint_values, parsed_flags, train_argv, user_env

STEPS = [
    "--model=lenet5",
    "--epochs=1",
    "--max_steps_per_epoch=12",
    "--batch_size=64",
    "--log_dir=",
]


def _train(data_dir, folder, *flags: str, env: dict | None = None, wait: bool = True):
    argv = train_argv(data_dir, folder, *STEPS, *flags)
    child_env = user_env(**(env or {}))
    if not wait:
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env
        )
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=child_env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def single(mnist, tmp_path_factory):
    """The reference: the same steps on one device, by the command's own ``train.run`` in
    this process (a strategy needs a fresh process; one device does not)."""
    from absl.testing import flagsaver

    from mnist_convnet.commands import train

    folder = tmp_path_factory.mktemp("single")
    flags = parsed_flags()
    with flagsaver.flagsaver():
        where = [f"--export_dir={folder / 'export'}", f"--checkpoint_dir={folder / 'ckpt'}"]
        flags(["train", *STEPS, *where], known_only=True)
        return folder, train.run(flags, datasets_override=mnist)


def _assert_close_checkpoints(a, b, tolerance: float = 1e-5) -> None:
    import numpy as np

    first, second = checkpoint_values(a), checkpoint_values(b)  # weights, Adam's moments, ...
    assert first.keys() == second.keys()
    for name, value in first.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            np.testing.assert_allclose(value, second[name], rtol=0, atol=tolerance, err_msg=name)


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_matches_one_device(data_dir, tmp_path, single):
    folder, reference = single
    summary = _train(data_dir, tmp_path, "--strategy=mirrored", "--logical_cpus=2")
    assert summary["replicas"] == 2 and reference["replicas"] == 1
    _assert_close_checkpoints(folder / "ckpt", tmp_path / "ckpt")
    assert summary["export_dir"] == str(tmp_path / "export" / "1")
    assert abs(summary["test_loss"] - reference["test_loss"]) < 1e-4


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_two_processes_match_one_process_and_only_the_chief_exports(
    data_dir, tmp_path, single
):
    folder, reference = single
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    children = [
        _train(
            data_dir,
            tmp_path,
            "--strategy=multi_worker",
            wait=False,
            env={
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": i}}
                )
            },
        )
        for i in range(2)
    ]
    outputs = [child.communicate(timeout=600) for child in children]
    failed = [
        f"worker {i} exit {child.returncode}:\n{err[-3000:]}"
        for i, (child, (_, err)) in enumerate(zip(children, outputs))
        if child.returncode
    ]
    assert not failed, "\n\n".join(failed)  # both: one worker's error is the other's cause
    chief, worker = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert chief["replicas"] == worker["replicas"] == 2
    assert chief["export_dir"] == str(tmp_path / "export" / "1") and worker["export_dir"] is None
    assert versions.numbers(tmp_path / "export") == [1]
    assert [p.name for p in (tmp_path / "ckpt").glob("*.index")] == ["ckpt-12.index"]
    _assert_close_checkpoints(folder / "ckpt", tmp_path / "ckpt")
    assert abs(chief["test_accuracy"] - reference["test_accuracy"]) <= 0.002


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    from mnist_convnet.errors import UserError

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        distribute.make_strategy("multi_worker")


def test_every_single_process_run_is_the_chief():
    import tensorflow as tf

    assert distribute.is_chief(tf.distribute.get_strategy())
