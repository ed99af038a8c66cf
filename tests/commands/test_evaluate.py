"""mnist-convnet evaluate: any model file, scored on the whole test split."""

from __future__ import annotations

import json

import pytest
from absl.testing import flagsaver

from mnist_convnet.commands import evaluate
from tests.helpers import parsed_flags, run_python


def test_main_scores_the_whole_test_split_as_training_did(exported, data_dir, short_run, capsys):
    parsed_flags()
    with flagsaver.flagsaver(data_dir=str(data_dir)):
        evaluate.main(["evaluate", str(exported)])
    out, err = capsys.readouterr()
    scores = json.loads(out.strip().splitlines()[-1])
    assert scores["examples"] == 10_000
    assert abs(scores["accuracy"] - short_run[0].test["accuracy"]) < 1e-6
    assert "true\\pred" in err  # the readable table


@pytest.mark.slow
def test_evaluate_a_saved_model(exported, data_dir, short_run):
    result = run_python(
        "-m", "mnist_convnet", "evaluate", str(exported.parent), f"--data_dir={data_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["examples"] == 10_000
    assert abs(scores["accuracy"] - short_run[0].test["accuracy"]) < 1e-6
    assert abs(scores["loss"] - short_run[0].test["loss"]) < 1e-4
    assert sum(map(sum, scores["confusion_matrix"])) == 10_000
    assert "true\\pred" in result.stderr  # the readable table


@pytest.mark.slow
def test_evaluate_something_that_is_not_a_model(tmp_path, data_dir):
    (tmp_path / "junk").mkdir()
    result = run_python(
        "-m", "mnist_convnet", "evaluate", str(tmp_path / "junk"), f"--data_dir={data_dir}"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a SavedModel" in result.stderr
