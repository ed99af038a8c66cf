"""mnist-convnet export: a SavedModel from a training run's checkpoints.

Run as a user runs it, in a child process: its flags (``--model``, ``--checkpoint_dir``)
are also the train command's, so the two cannot share one test process. Exporting real
checkpoints is tested end to end in test_train.py (train, then export again).
"""

from __future__ import annotations

from tests.helpers import run_python


def test_no_checkpoints_is_one_clear_error_and_nothing_is_exported(tmp_path):
    (tmp_path / "ckpt").mkdir()
    result = run_python(
        "-m",
        "mnist_convnet",
        "export",
        f"--checkpoint_dir={tmp_path / 'ckpt'}",
        f"--export_dir={tmp_path / 'export'}",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert str(tmp_path / "ckpt") in result.stderr
    assert not (tmp_path / "export").exists()
