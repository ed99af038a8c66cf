"""mnist-convnet evaluate: any model file, scored on the whole test split."""

from __future__ import annotations

import json

from tests.helpers import run_python


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


def test_evaluate_something_that_is_not_a_model(tmp_path, data_dir):
    (tmp_path / "junk").mkdir()
    result = run_python(
        "-m", "mnist_convnet", "evaluate", str(tmp_path / "junk"), f"--data_dir={data_dir}"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a SavedModel" in result.stderr
