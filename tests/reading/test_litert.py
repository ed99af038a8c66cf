"""litert.py: what a phone app does with reader.tflite — decode, fill the frame, read — and
the 28x28 classifiers in LiteRT (those are tested against the SavedModel in test_tflite)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_convnet import contract
from mnist_convnet.finder import preprocess
from mnist_convnet.reading import litert


def test_a_small_image_goes_into_the_corner_as_it_is():
    image = Image.fromarray(np.full((30, 50, 4), 7, np.uint8), "RGBA")
    frame, size, scale = litert.fill_frame(image, side=64)
    assert frame.shape == (1, 64, 64, 4) and frame.dtype == np.uint8
    assert size.tolist() == [30, 50] and scale == 1.0
    assert (
        (frame[0, :30, :50] == 7).all() and not frame[0, 30:].any() and not frame[0, :, 50:].any()
    )


def test_a_large_image_is_scaled_down_by_area_to_fit():
    pixels = np.zeros((300, 400), np.uint8)
    pixels[:, 200:] = 255  # right half white
    frame, size, scale = litert.fill_frame(Image.fromarray(pixels).convert("RGBA"), side=100)
    assert size.tolist() == [75, 100] and scale == 0.25
    row = frame[0, 40, :100, 0].astype(int)
    assert row[:49].max() == 0 and row[51:].min() == 255  # a box average keeps the edge


def test_exif_orientation_is_applied_as_a_phone_does(tmp_path):
    """Phones store photos sideways and say so in EXIF (orientation 6: turn 90° right)."""
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left of the stored image
    exif = Image.Exif()
    exif[preprocess.EXIF_ORIENTATION] = 6
    path = tmp_path / "sideways.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    upright = np.asarray(litert.load_image(path))
    assert upright.shape == (60, 20, 4)
    assert upright[:8, :, 0].mean() > 200 and upright[-8:, :, 0].mean() < 50  # band on top


def test_a_large_jpeg_is_decoded_shrunk_but_never_below_the_frame(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.full((3000, 4000, 3), 200, np.uint8)).save(path)
    image = litert.load_image(path, side=640)
    assert min(image.size) >= 640 and max(image.size) < 4000


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty file"), (b"not an image", "not an image file Pillow can read")],
)
def test_an_unreadable_file_is_an_image_error(tmp_path, content, message):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(preprocess.ImageError, match=message):
        litert.load_image(path)


def test_digit_result_lists_the_three_likeliest():
    probabilities = np.array([0.01, 0.7, 0.02, 0.2, 0.0, 0.0, 0.0, 0.07, 0.0, 0.0])
    result = litert.digit_result(probabilities)
    assert result["digit"] == 1 and result["probability"] == 0.7
    assert [d for d, _ in result["top3"]] == [1, 3, 7]
    assert result["hard"]  # 0.7: under contract.HARD_PROBABILITY
    sure = litert.digit_result(np.array([0.0] * 9 + [0.99]))
    assert sure["digit"] == 9 and not sure["hard"]


@pytest.mark.slow  # converts reader.tflite (~25 s, once a run)
def test_reader_results_are_predict_lines(reader_file, test_digits, tmp_path):
    """A digit, a blank page and a broken file, as `predict` writes them."""
    pixels, labels = test_digits
    reader = litert.LiteReader(reader_file)
    Image.fromarray(255 - pixels[0]).save(tmp_path / "digit.png")
    Image.fromarray(np.full((80, 80), 250, np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    digit = reader.read_file(tmp_path / "digit.png")
    assert digit["digit"] == int(labels[0]) and digit["path"].endswith("digit.png")
    assert len(digit["top3"]) == 3 and 0 < digit["probability"] <= 1
    blank = reader.read_file(tmp_path / "blank.png")
    assert blank["error"] == contract.REASONS[contract.BLANK]
    assert "error" in reader.read_file(tmp_path / "broken.png")
