"""commands/train.py and the mnist-convnet console script, run as a user runs them."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest
from absl import flags
from absl.testing import flagsaver

from mnist_convnet import versions
from mnist_convnet.commands import train
from mnist_convnet.errors import UserError
from mnist_convnet.training.config import Config
from mnist_convnet.training.step import GRADIENTS
from tests.helpers import parsed_flags, run_python, train_argv, user_env

FLAGS = flags.FLAGS


def _cli(*args: str, **env: str):
    return run_python("-m", "mnist_convnet", *args, **env)


@pytest.mark.slow
def test_run_trains_evaluates_exports_and_summarises(mnist, tmp_path):
    parsed_flags()
    with flagsaver.flagsaver(
        epochs=1,
        max_steps_per_epoch=40,
        export_dir=str(tmp_path / "export"),
        checkpoint_dir=str(tmp_path / "ckpt"),
        log_dir=str(tmp_path / "logs"),
    ):
        summary = train.run(FLAGS, datasets_override=mnist)
    # The default network, tape gradients, the keras.io recipe: the one combination
    # test_every_model_trains_in_both_modes_and_exports leaves to this test.
    assert (summary["model"], summary["gradients"], summary["recipe"]) == (
        "keras_convnet",
        "tape",
        "keras.io",
    )
    assert summary["epochs"] == 1
    assert summary["export_dir"] == str(tmp_path / "export" / "1")
    assert 0.5 < summary["test_accuracy"] <= 1.0 and summary["test_loss"] > 0
    assert summary["train_seconds"] > 0
    # Checkpoints are numbered by the global step: one epoch of 40 steps ends at 40.
    assert list((tmp_path / "ckpt").glob("ckpt-40.index"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "model_name, gradients",
    # keras_convnet with tape gradients is the run above.
    [("keras_convnet", "manual"), *[(m, g) for m in ("lenet5", "article") for g in GRADIENTS]],
)
def test_every_model_trains_in_both_modes_and_exports(mnist, tmp_path, model_name, gradients):
    parsed_flags()
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
    assert versions.numbers(tmp_path / "export") == [1]
    # Eight steps already beat guessing: an untrained net scores about ln 10 ≈ 2.30.
    assert 0.0 < summary["test_loss"] < math.log(10)


@pytest.mark.slow
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
    assert versions.numbers(tmp_path / "export") == [1, 2]


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_the_strategy_names_of_the_flag_are_distributes():
    from mnist_convnet.commands import train
    from mnist_convnet.training import distribute

    assert train.STRATEGIES == distribute.STRATEGIES


_LOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ ([\w.]+):\d+\] (.*)$")


@pytest.mark.slow
def test_a_first_run_shows_our_lines_and_no_other_librarys_info(tmp_path, manual_dir):
    """A first run on a fresh tfds folder, as a newcomer's `make train`: every INFO line is
    one of ours (the export's among them); TensorFlow's SavedModel builder, checkpoint
    saver and tfds' download manager say nothing at INFO (--verbosity=1 lets them through:
    tests/commands/test_main.py)."""
    ours = {path.name for path in Path(train.__file__).parent.parent.rglob("*.py")}

    def info_lines(*flags: str) -> list[tuple[str, str]]:
        command = train_argv(
            tmp_path / "tfds",
            tmp_path / "run",
            "--epochs=1",
            "--max_steps_per_epoch=3",
            f"--manual_dir={manual_dir}",
            *flags,
        )
        done = subprocess.run(command, capture_output=True, text=True, env=user_env(),
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        found = [_LOG_LINE.match(line) for line in (done.stdout + done.stderr).splitlines()]
        return [(m[2], m[3]) for m in found if m and m[1] == "I"]

    first = info_lines("--fresh")
    assert first and all(name in ours for name, _ in first), first
    assert any(text.startswith("exported SavedModel to") for _, text in first)
