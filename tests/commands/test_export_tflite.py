"""mnist-convnet export-tflite: converts, scores every file, writes the JSON table."""

from __future__ import annotations

import json
import shutil

import pytest
from absl.testing import flagsaver

from mnist_convnet.commands import export_tflite
from mnist_convnet.errors import UserError
from tests.helpers import parsed_flags, run_python


def test_run_names_a_missing_model_before_converting_anything(tmp_path, mnist):
    flags = parsed_flags()
    with flagsaver.flagsaver(model_dir=str(tmp_path / "nothing")):
        with pytest.raises(UserError, match="no such file or folder: .*nothing"):
            export_tflite.run(flags, datasets_override=mnist)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_export_tflite_command(exported, data_dir, tmp_path):
    base = tmp_path / "mnist_convnet"
    shutil.copytree(exported, base / "4")
    result = run_python(
        "-m",
        "mnist_convnet",
        "export-tflite",
        f"--model_dir={base}",
        f"--data_dir={data_dir}",
        "--test_images=300",
        "--representative_images=100",
        "--reader_images=60",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["saved_model"] == str(base / "4") and report["test_images"] == 300
    kinds = [row["kind"] for row in report["models"]]
    assert kinds == [
        "saved_model",
        "float32",
        "dynamic_range",
        "int8",
        "reader",
        "reader_dynamic_range",
        "trainable",
    ]
    baseline = report["models"][0]["accuracy"]
    for row in report["models"][1:]:
        assert (
            tmp_path / "mnist_convnet_tflite" / "4" / f"{row['kind']}.tflite"
        ).stat().st_size == row["bytes"]
        assert abs(row["accuracy"] - baseline) <= 0.03, row["kind"]
        if row["kind"].startswith("reader"):  # the digit-finder too: test digits as frames
            assert row["test_images"] == 60 and row["not_found"] == 0
            assert row["ops"] and not [op for op in row["ops"] if op.startswith("CUSTOM")]
            assert row["bytes"] < 1_000_000
        elif row["kind"] != "trainable":  # its training: tests/export/test_trainable.py
            assert row["p50_ms"] > 0
    saved = json.loads((tmp_path / "mnist_convnet_tflite" / "4" / "report.json").read_text())
    assert saved == report
