"""train.py and the mnist-convnet console script, run as a user runs them."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from mnist_convnet import export, train
from tests.helpers import run_python
from tests.helpers import assert_same_checkpoints

FLAGS = flags.FLAGS


def _cli(*args: str, **env: str):
    return run_python("-m", "mnist_convnet.cli", *args, **env)


def test_run_trains_evaluates_exports_and_summarises(mnist, tmp_path):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(
        epochs=1,
        max_steps_per_epoch=40,
        export_dir=str(tmp_path / "export"),
        checkpoint_dir=str(tmp_path / "ckpt"),
        log_dir=str(tmp_path / "logs"),
    ):
        summary = train.run(FLAGS, datasets_override=mnist)
    assert summary["epochs"] == 1
    assert summary["export_dir"] == str(tmp_path / "export" / "1")
    assert 0.5 < summary["test_accuracy"] <= 1.0 and summary["test_loss"] > 0
    assert summary["train_seconds"] > 0
    # Checkpoints are numbered by the global step: one epoch of 40 steps ends at 40.
    assert list((tmp_path / "ckpt").glob("ckpt-40.index"))


@pytest.mark.parametrize("gradients", ["tape", "manual"])
@pytest.mark.parametrize("model_name", ["keras_convnet", "lenet5", "article"])
def test_every_model_trains_in_both_modes_and_exports(mnist, tmp_path, model_name, gradients):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(
        model=model_name, gradients=gradients, epochs=1, max_steps_per_epoch=8,
        export_dir=str(tmp_path / "export"), checkpoint_dir=str(tmp_path / "ckpt"), log_dir="",
    ):  # fmt: skip
        summary = train.run(FLAGS, datasets_override=mnist)
    assert (summary["model"], summary["gradients"]) == (model_name, gradients)
    assert export.versions(tmp_path / "export") == [1]
    # Eight steps already beat guessing: an untrained net scores about ln 10 ≈ 2.30.
    assert 0.0 < summary["test_loss"] < math.log(10)


def test_console_script_end_to_end_then_export_from_checkpoint(data_dir, tmp_path):
    common = [f"--export_dir={tmp_path / 'export'}", f"--checkpoint_dir={tmp_path / 'ckpt'}"]
    result = _cli(
        "train", "--epochs=1", "--max_steps_per_epoch=30", f"--data_dir={data_dir}",
        f"--log_dir={tmp_path / 'logs'}", *common,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"test_accuracy", "test_loss", "epochs", "train_seconds", "export_dir"} <= set(summary)
    assert summary["export_dir"] == str(tmp_path / "export" / "1")

    again = _cli("export", *common)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["export_dir"].endswith("/2")
    assert export.versions(tmp_path / "export") == [1, 2]


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--epochs=0", "--epochs"),
        ("--batch_size=-1", "--batch_size"),
        ("--learning_rate=0", "--learning_rate must be positive"),
        ("--steps_per_call=0", "--steps_per_call"),
        ("--no_such_flag=1", "no_such_flag"),
    ],
)
def test_bad_flags_are_usage_errors(flag, message, tmp_path):
    result = _cli("train", flag, f"--export_dir={tmp_path / 'export'}")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "export").exists()  # failed before any work


def test_unwritable_export_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _cli("train", f"--export_dir={blocker / 'models'}", "--data_dir=/nonexistent")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot write to {blocker}")


def _check_writable_many_times(folder: str) -> None:
    for _ in range(3000):
        train._check_writable(folder)


def test_workers_checking_one_folder_at_once_do_not_trip_each_other(tmp_path):
    # Every worker of a multi-worker run checks the shared export and checkpoint folders
    # as it starts; a probe file with one fixed name let a worker delete the other's.
    import multiprocessing

    context = multiprocessing.get_context("fork")  # the children only touch files
    workers = [context.Process(target=_check_writable_many_times, args=(str(tmp_path),))
               for _ in range(2)]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert list(tmp_path.iterdir()) == []  # no probe left behind


def test_helpfull_lists_the_training_flags():
    result = _cli("train", "--helpfull")  # absl's help flags exit with status 1
    assert "Traceback" not in result.stderr
    for name in ("--epochs", "--batch_size", "--learning_rate", "--seed", "--manual_dir",
                 "--data_dir", "--export_dir", "--log_dir"):  # fmt: skip
        assert name in result.stdout


def test_unknown_subcommand_is_a_usage_error():
    result = _cli("fly")
    assert result.returncode == 2 and "unknown subcommand 'fly'" in result.stderr


# --- Nothing lost: kill a training process, run the same command again ----------------

RESUME_FLAGS = ["--epochs=2", "--max_steps_per_epoch=40", "--log_dir="]


def _train_argv(data_dir, folder, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mnist_convnet.cli", "train", *RESUME_FLAGS,
            f"--data_dir={data_dir}", f"--export_dir={folder / 'export'}",
            f"--checkpoint_dir={folder / 'ckpt'}", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
    """The reference: the same short run, never interrupted."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = subprocess.run(_train_argv(data_dir, folder), capture_output=True, text=True,
                            timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def _latest_number(folder) -> int:
    """The step of the checkpoint a resume would use: the one the state file names.

    Not the newest ckpt-*.index on disk: a SIGKILL can land after a checkpoint's files are
    written but before the state file names it, and then the resume (rightly) takes the
    previous one.
    """
    latest = tf.train.latest_checkpoint(str(folder)) if folder.is_dir() else None
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def test_sigkill_mid_epoch_then_resume_is_bit_identical(data_dir, tmp_path, uninterrupted):
    argv = _train_argv(data_dir, tmp_path, "--checkpoint_every_steps=4")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
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
    assert export.versions(tmp_path / "export") == [1]


def test_sigterm_checkpoints_exits_143_and_the_same_command_resumes(
    data_dir, tmp_path, uninterrupted
):
    argv = _train_argv(data_dir, tmp_path)  # checkpoints at epoch ends only
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while not any("training from scratch" in line for line in lines):
        assert child.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
        time.sleep(0.05)
    time.sleep(3)  # somewhere inside the 80 steps
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=600)
    reader.join(timeout=60)
    assert child.returncode == 143, "".join(lines)[-3000:]
    message = lines[-1]
    assert message.startswith("error: stopped by signal 15 at epoch "), message
    assert "checkpoint saved in" in message and "Run the same command to resume" in message
    assert not (tmp_path / "export").exists() or not export.versions(tmp_path / "export")
    stopped_at = _latest_number(tmp_path / "ckpt")
    assert 0 < stopped_at < 80

    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {tmp_path / 'ckpt' / f'ckpt-{stopped_at}'}" in resumed.stderr
    assert_same_checkpoints(uninterrupted / "ckpt", tmp_path / "ckpt")
