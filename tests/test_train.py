"""train.py and the mnist-convnet console script, run as a user runs them."""

from __future__ import annotations

import json
import math

import pytest
from absl import flags
from absl.testing import flagsaver

from mnist_convnet import export, train
from tests.helpers import run_python

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
    assert list((tmp_path / "ckpt").glob("ckpt-1.index"))


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


def test_helpfull_lists_the_training_flags():
    result = _cli("train", "--helpfull")  # absl's help flags exit with status 1
    assert "Traceback" not in result.stderr
    for name in ("--epochs", "--batch_size", "--learning_rate", "--seed", "--manual_dir",
                 "--data_dir", "--export_dir", "--log_dir"):  # fmt: skip
        assert name in result.stdout


def test_unknown_subcommand_is_a_usage_error():
    result = _cli("fly")
    assert result.returncode == 2 and "unknown subcommand 'fly'" in result.stderr
