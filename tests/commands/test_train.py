"""commands/train.py and the mnist-convnet console script, run as a user runs them."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from mnist_convnet import export
from mnist_convnet.commands import train
from mnist_convnet.config import Config
from mnist_convnet.errors import UserError
from tests.helpers import assert_same_checkpoints, run_python, user_env

FLAGS = flags.FLAGS


def _cli(*args: str, **env: str):
    return run_python("-m", "mnist_convnet", *args, **env)


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
        model=model_name,
        gradients=gradients,
        epochs=1,
        max_steps_per_epoch=8,
        export_dir=str(tmp_path / "export"),
        checkpoint_dir=str(tmp_path / "ckpt"),
        log_dir="",
    ):
        summary = train.run(FLAGS, datasets_override=mnist)
    assert (summary["model"], summary["gradients"]) == (model_name, gradients)
    # --model alone runs the network's own recipe: LeNet-5's is batch 32, cosine decay.
    expected = {"lenet5": ("lenet5", 32, "cosine")}.get(model_name, ("keras.io", 128, "constant"))
    assert (summary["recipe"], summary["batch_size"], summary["lr_schedule"]) == expected
    assert export.versions(tmp_path / "export") == [1]
    # Eight steps already beat guessing: an untrained net scores about ln 10 ≈ 2.30.
    assert 0.0 < summary["test_loss"] < math.log(10)


def test_console_script_end_to_end_then_export_from_checkpoint(data_dir, tmp_path):
    common = [f"--export_dir={tmp_path / 'export'}", f"--checkpoint_dir={tmp_path / 'ckpt'}"]
    result = _cli(
        "train",
        "--epochs=1",
        "--max_steps_per_epoch=30",
        f"--data_dir={data_dir}",
        f"--log_dir={tmp_path / 'logs'}",
        *common,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"test_accuracy", "test_loss", "epochs", "train_seconds", "export_dir"} <= set(summary)
    assert summary["export_dir"] == str(tmp_path / "export" / "1")

    again = _cli("export", *common)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["export_dir"].endswith("/2")
    assert export.versions(tmp_path / "export") == [1, 2]


BAD_VALUES = [
    ("epochs", 0, "epochs must be at least 1, not 0"),
    ("batch_size", -1, "batch_size must be at least 1, not -1"),
    ("learning_rate", 0.0, "learning_rate must be greater than 0, not 0.0"),
    ("steps_per_call", 0, "steps_per_call must be at least 1, not 0"),
    ("model", "resnet", "model must be one of keras_convnet, lenet5, article, not 'resnet'"),
    (
        "lr_schedule",
        "step",
        "lr_schedule must be one of constant, cosine, warmup_cosine, not 'step'",
    ),
]


@pytest.mark.parametrize("name, value, message", BAD_VALUES)
def test_a_bad_value_gets_the_same_one_line_error_from_the_cli_and_the_api(
    name, value, message, tmp_path
):
    with pytest.raises(UserError) as info:
        Config(**{name: value})
    assert str(info.value) == message
    result = _cli("train", f"--{name}={value}", f"--export_dir={tmp_path / 'export'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "export").exists()  # failed before any work


def test_an_unknown_flag_is_a_usage_error(tmp_path):
    result = _cli("train", "--no_such_flag=1", f"--export_dir={tmp_path / 'export'}")
    assert result.returncode != 0 and "no_such_flag" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_config_field_is_a_flag_with_the_configs_default():
    """The flags are generated from Config: nothing to keep in step by hand."""
    import dataclasses

    for field in dataclasses.fields(Config):
        if field.metadata["flag"]:
            assert FLAGS[field.name].default == field.default, field.name
            assert field.metadata["help"] in FLAGS[field.name].help


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
    workers = [
        context.Process(target=_check_writable_many_times, args=(str(tmp_path),)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert list(tmp_path.iterdir()) == []  # no probe left behind


def test_help_lists_the_training_flags_with_their_help_and_exits_0():
    result = run_python("-m", "mnist_convnet", "train", "--help", TF_CPP_MIN_LOG_LEVEL=None)
    assert result.returncode == 0
    assert result.stderr == ""  # no TensorFlow start-up lines, no CUDA error
    for name in (
        "--epochs",
        "--batch_size",
        "--learning_rate",
        "--seed",
        "--manual_dir",
        "--data_dir",
        "--export_dir",
        "--log_dir",
        "--strategy",
        "--[no]fresh",
        "--[no]deterministic",
    ):
        assert f"  {name}:" in result.stdout
    assert "Passes over the 54,000 training images" in result.stdout


# --- Nothing lost: kill a training process, run the same command again ----------------

RESUME_FLAGS = ["--epochs=2", "--max_steps_per_epoch=40", "--log_dir="]


def _train_argv(data_dir, folder, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mnist_convnet",
        "train",
        *RESUME_FLAGS,
        f"--data_dir={data_dir}",
        f"--export_dir={folder / 'export'}",
        f"--checkpoint_dir={folder / 'ckpt'}",
        *extra,
    ]


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
    """The reference: the same short run, never interrupted."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = subprocess.run(
        _train_argv(data_dir, folder), capture_output=True, text=True, timeout=600, env=user_env()
    )
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
    assert export.versions(tmp_path / "export") == [1]


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
    assert not (tmp_path / "export").exists() or not export.versions(tmp_path / "export")
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
