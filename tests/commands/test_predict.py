"""commands/predict.py in the test process: files in, one JSON line each, the exit code.

tests/test_predict.py runs the same command as a user does, in child processes.
"""

from __future__ import annotations

import json

import pytest
from absl.testing import flagsaver
from PIL import Image

from mnist_convnet.commands import predict
from tests.helpers import parsed_flags


def test_main_reads_each_file_and_exits_1_when_one_failed(exported, test_digits, tmp_path, capsys):
    pixels, labels = test_digits
    for i in range(3):
        Image.fromarray(255 - pixels[i]).save(tmp_path / f"digit_{i}.png")  # dark on white
    (tmp_path / "notes.png").write_bytes(b"not an image")
    parsed_flags()
    with flagsaver.flagsaver(model_dir=str(exported.parent), number=False):
        with pytest.raises(SystemExit) as exit_:
            predict.main(["predict", str(tmp_path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["path"].rsplit("/", 1)[-1] for line in lines] == [
        "digit_0.png",
        "digit_1.png",
        "digit_2.png",
        "notes.png",
    ]
    assert [line["digit"] for line in lines[:3]] == [int(label) for label in labels[:3]]
    assert "error" in lines[3] and exit_.value.code == 1
