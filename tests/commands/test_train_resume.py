"""commands/train.py: nothing is lost when a training process is killed or stopped.

Kill a run (SIGKILL mid-epoch, or SIGTERM), run the same command again: it resumes from
the last checkpoint and ends bit-identical to a run never interrupted. Each run is a
child process, as a user's is; the tests live apart from test_train.py so that
``make test``'s workers can take them side by side.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest
import tensorflow as tf

from mnist_convnet import versions
from mnist_convnet.training import loop
from mnist_convnet.training.config import Config
from tests.helpers import assert_same_checkpoints, train_argv, user_env

RESUME_FLAGS = ["--epochs=2", "--max_steps_per_epoch=40", "--log_dir="]


def _train_argv(data_dir, folder, *extra: str) -> list[str]:
    return train_argv(data_dir, folder, *RESUME_FLAGS, *extra)


@pytest.fixture(scope="module")
def uninterrupted(mnist, tmp_path_factory):
    """The reference: the same short run, never interrupted (in this process: the loop
    the command runs, with the command's defaults; no child process to start)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    config = Config(epochs=2, max_steps_per_epoch=40, verbose=False)
    loop.train_and_evaluate(config, mnist, checkpoint_dir=str(folder / "ckpt"))
    return folder


def _latest_number(folder) -> int:
    """The step of the checkpoint a resume would use: the one the state file names.

    Not the newest ckpt-*.index on disk: a SIGKILL can land after a checkpoint's files are
    written but before the state file names it, and then the resume (rightly) takes the
    previous one.
    """
    latest = tf.train.latest_checkpoint(str(folder)) if folder.is_dir() else None
    return int(latest.rsplit("-", 1)[1]) if latest else 0


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(data_dir, tmp_path, uninterrupted):
    argv = _train_argv(data_dir, tmp_path, "--checkpoint_every_steps=4")
    env = user_env()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 600
        # Into epoch 2 (steps 41-80): kill right after the checkpoint of step 40 + 6 or later.
        while _latest_number(tmp_path / "ckpt") < 46 and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = _latest_number(tmp_path / "ckpt")
    assert 46 <= killed_at < 80

    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and f"ckpt-{killed_at}" in resumed.stderr
    assert_same_checkpoints(uninterrupted / "ckpt", tmp_path / "ckpt")
    assert versions.numbers(tmp_path / "export") == [1]


@pytest.mark.slow
def test_sigterm_checkpoints_exits_143_and_the_same_command_resumes(
    data_dir, tmp_path, uninterrupted
):
    argv = _train_argv(data_dir, tmp_path)  # checkpoints at epoch ends only
    env = user_env()
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    # The end of epoch 1 (its checkpoint, ckpt-40) is the event: the signal then lands in
    # epoch 2, where no checkpoint is due, whatever the machine's speed.
    while _latest_number(tmp_path / "ckpt") < 40:
        assert child.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
        time.sleep(0.01)
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=600)
    reader.join(timeout=60)
    assert child.returncode == 143, "".join(lines)[-3000:]
    message = lines[-1]
    assert message.startswith("error: stopped by signal 15 at epoch "), message
    assert "checkpoint saved in" in message and "Run the same command to resume" in message
    assert not (tmp_path / "export").exists() or not versions.numbers(tmp_path / "export")
    stopped_at = _latest_number(tmp_path / "ckpt")
    assert 40 < stopped_at < 80, "the signal's own checkpoint, inside epoch 2"

    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {tmp_path / 'ckpt' / f'ckpt-{stopped_at}'}" in resumed.stderr
    assert_same_checkpoints(uninterrupted / "ckpt", tmp_path / "ckpt")
    # Time is reported for what this process trained: the rest of epoch 2, not 2 epochs.
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert (summary["epochs"], summary["epochs_trained"]) == (2, 1)
    assert summary["seconds_per_epoch"] == round(summary["train_seconds"] / 1, 2)
