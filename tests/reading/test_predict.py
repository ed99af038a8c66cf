"""predict.py: users' PNG/JPEG digits, one JSON line each, as `mnist-convnet predict` reads them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mnist_convnet.errors import UserError
from mnist_convnet.reading import predict
from tests.helpers import run_python


def test_a_model_without_the_digit_finder_is_told_to_export_again():
    class Older:  # a SavedModel exported before serving_images existed
        signatures = {"serving_default": object()}

    with pytest.raises(UserError, match="has no serving_images digit-finder"):
        predict.signature(Older(), number=False)
    with pytest.raises(UserError, match="has no serving_number digit-finder"):
        predict.signature(Older(), number=True)


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory, test_digits):
    """Ten real test digits, each plain, inverted, enlarged (JPEG) and in colour."""
    folder = tmp_path_factory.mktemp("digits")
    pixels, labels = test_digits
    expected = {}
    for i in range(10):
        a, label = pixels[i], int(labels[i])
        variants = {
            f"plain_{i}.png": Image.fromarray(a),
            f"inverted_{i}.png": Image.fromarray(255 - a),
            f"enlarged_{i}.jpg": Image.fromarray(255 - a).resize(
                (280, 280), Image.Resampling.BICUBIC
            ),
            f"colour_{i}.png": Image.fromarray(
                np.stack([255 - a, 255 - a // 2, np.full_like(a, 255)], -1)
            ).resize((90, 120)),
        }
        for name, image in variants.items():
            image.save(folder / name)
            expected[name] = label
    return folder, expected


def _predict(*args: str):
    result = run_python("-m", "mnist_convnet", "predict", *args)
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow  # `mnist-convnet predict` in a child process, as a user runs it
def test_reads_every_variant_right(exported, digit_files):
    folder, expected = digit_files
    result, lines = _predict(f"--model_dir={exported.parent}", str(folder))
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(lines) == len(expected)
    for line in lines:
        name = line["path"].rsplit("/", 1)[-1]
        assert line["digit"] == expected[name], line
        assert 0 < line["probability"] <= 1 and line["top3"][0] == [
            line["digit"],
            line["probability"],
        ]
        assert len(line["top3"]) == 3


@pytest.mark.slow  # `mnist-convnet predict` in a child process, as a user runs it
def test_an_unreadable_file_is_reported_and_the_rest_still_run(exported, digit_files, tmp_path):
    folder, expected = digit_files
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    result, lines = _predict(f"--model_dir={exported}", str(bad), str(folder / "plain_0.png"))
    assert result.returncode == 1
    assert lines[0] == {"path": str(bad), "error": lines[0]["error"]}
    assert "not an image" in lines[0]["error"]
    assert lines[1]["digit"] == expected["plain_0.png"]


@pytest.mark.slow  # `mnist-convnet predict` in a child process, as a user runs it
def test_numbers_and_files_without_a_digit(exported, test_digits, tmp_path):
    from testbed import sheet

    pixels, labels = test_digits
    row = sheet.on_paper(sheet.row(np.random.default_rng(2), list(pixels[5:8]), 70))
    (tmp_path / "row.png").write_bytes(sheet.encode(row))
    (tmp_path / "blank.png").write_bytes(sheet.encode(np.full((60, 80), 240.0)))
    result, lines = _predict(
        f"--model_dir={exported}",
        "--number",
        str(tmp_path / "blank.png"),
        str(tmp_path / "row.png"),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert lines[0] == {
        "path": str(tmp_path / "blank.png"),
        "error": "no digit found: the image is blank or has almost no contrast",
    }
    assert set(lines[1]) == {"path", "number", "digits"}
    assert [d["digit"] for d in lines[1]["digits"]] == [int(c) for c in lines[1]["number"]]
    assert lines[1]["number"] == "".join(str(d) for d in labels[5:8])
    lefts = [d["box"][1] for d in lines[1]["digits"]]
    assert lefts == sorted(lefts) and all(0 < d["probability"] <= 1 for d in lines[1]["digits"])


@pytest.mark.slow  # `mnist-convnet predict` in a child process, as a user runs it
def test_missing_model_is_one_clear_error(tmp_path):
    result, _ = _predict(f"--model_dir={tmp_path / 'none'}", "x.png")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no such file or folder")
