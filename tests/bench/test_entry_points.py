"""bench/entry_points.py: the doors a benchmark reads an image through, on one capture."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import entry_points
from mnist_convnet.export import tflite
from testbed import captures, sheet


@pytest.mark.slow  # a `predict` process; bench.captures' and bench.writers' smoke runs
# read through these doors too
def test_tensorflow_alone_and_predict_read_the_same_capture(
    exported, saved_model, test_digits, tmp_path
):
    """One clean capture of a test digit: the SavedModel's serving_images and `predict` on
    the file give the same digit; a blank page is "error" for both."""
    pixels, _ = test_digits
    encoded, suffix = captures.clean(np.random.default_rng(0), [pixels[0]])
    blank = sheet.encode(np.full((60, 60), 240.0))
    read, image = entry_points.read_tf_only(saved_model, encoded, number=False)
    assert read.isdigit() and image.shape == (28, 28)
    assert entry_points.read_tf_only(saved_model, blank, number=False) == ("error", None)
    paths = [tmp_path / f"digit{suffix}", tmp_path / "blank.png"]
    paths[0].write_bytes(encoded)
    paths[1].write_bytes(blank)
    found = entry_points.read_predict(str(exported), paths, number=False)
    assert found == {str(paths[0]): read, str(paths[1]): "error"}


def test_readers_are_the_exports_own_unless_named(tmp_path):
    version = tmp_path / "mnist_convnet" / "1"
    version.mkdir(parents=True)
    assert entry_points.reader_files(str(version)) == {}
    folder = tflite.output_dir(version)
    folder.mkdir(parents=True)
    (folder / "reader.tflite").write_bytes(b"x")
    assert entry_points.reader_files(str(version)) == {"reader": folder / "reader.tflite"}
    named = tmp_path / "mine.tflite"
    assert entry_points.reader_files(str(version), [str(named)]) == {"mine": named}
    assert entry_points.reader_files(str(version), []) == {}


def test_predict_is_given_its_files_in_runs_that_fit_a_command_line(monkeypatch, tmp_path):
    """More paths than one command line holds go to several `predict` children, in order,
    and their answers come back as one mapping."""
    calls = []

    def run(command, **kwargs):
        files = command[command.index(f"--model_dir={tmp_path}") + 1 :]
        calls.append(files)
        lines = [json.dumps({"path": f, "digit": int(f[1])}) for f in files]
        return subprocess.CompletedProcess(command, 0, "\n".join(lines), "")

    monkeypatch.setattr(entry_points.subprocess, "run", run)
    monkeypatch.setattr(entry_points, "ARGV_CHARS", 15)  # two of "dN.png " a run
    paths = [Path(f"d{i}.png") for i in range(5)]
    found = entry_points.read_predict(str(tmp_path), paths, number=False)
    assert calls == [["d0.png", "d1.png"], ["d2.png", "d3.png"], ["d4.png"]]
    assert found == {f"d{i}.png": str(i) for i in range(5)}
