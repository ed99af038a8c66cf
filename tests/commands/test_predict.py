"""commands/predict.py in the test process: files in, one JSON line each, the exit code.

tests/test_predict.py runs the same command as a user does, in child processes.
"""

from __future__ import annotations

import json

import pytest
from absl.testing import flagsaver
from PIL import Image

from mnist_convnet.commands import predict
from tests.helpers import parsed_flags, run_python


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


# What the child runs: the console script's main, then whether TensorFlow was ever loaded.
_NO_TENSORFLOW = """
import json, sys
from mnist_convnet.commands import main
try:
    main.main(["mnist-convnet", "predict", *sys.argv[1:]])
except SystemExit as stop:
    print(json.dumps({"exit": stop.code, "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
def test_tflite_reads_like_the_saved_model_without_tensorflow(
    exported, reader_file, test_digits, tmp_path
):
    """`--tflite` is a phone's path: Pillow and LiteRT, never TensorFlow (a phone has none),
    the same JSON lines as the SavedModel's, and a quiet stderr."""
    pixels, _ = test_digits
    for i in range(4):
        Image.fromarray(255 - pixels[i]).save(tmp_path / f"digit_{i}.png")
    (tmp_path / "notes.png").write_bytes(b"not an image")
    done = run_python("-c", _NO_TENSORFLOW, f"--tflite={reader_file}", str(tmp_path))
    *lines, status = [json.loads(line) for line in done.stdout.splitlines()]
    assert status == {"exit": 1, "tensorflow": False}, done.stderr
    assert done.stderr == ""
    saved = run_python("-m", "mnist_convnet", "predict", f"--model_dir={exported}", str(tmp_path))
    expected = [json.loads(line) for line in saved.stdout.splitlines()]
    assert [line.get("digit") for line in lines] == [line.get("digit") for line in expected]
    assert lines[-1]["error"] == expected[-1]["error"]
    for ours, theirs in zip(lines[:4], expected[:4]):
        assert abs(ours["probability"] - theirs["probability"]) < 0.02


def test_tflite_that_is_not_a_reader_is_one_clear_error(tmp_path, capsys):
    bogus = tmp_path / "reader.tflite"
    bogus.write_bytes(b"not a flatbuffer")
    parsed_flags()
    with flagsaver.flagsaver(tflite=str(bogus), number=False):
        with pytest.raises(SystemExit) as exit_:
            predict.main(["predict", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: cannot load {bogus}")
