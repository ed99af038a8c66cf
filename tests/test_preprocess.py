"""preprocess.py: users' images of every kind become MNIST-style digits, or a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_convnet import preprocess


@pytest.fixture(scope="module")
def seven(test_digits):
    """A real test digit (whichever tfds puts first), uint8 28x28, white on black."""
    return test_digits[0][0]


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def test_mnist_digit_is_nearly_unchanged(seven):
    out = preprocess.to_mnist(seven.astype(float))
    assert out.dtype == np.uint8 and out.shape == (28, 28)
    assert np.corrcoef(out.ravel(), seven.ravel())[0, 1] > 0.9


def test_dark_on_light_is_inverted_and_centred(seven):
    paper = np.full((300, 200), 240.0)
    paper[40:180, 20:120] = 255 - np.asarray(
        Image.fromarray(seven).resize((100, 140), Image.Resampling.BILINEAR), dtype=float
    )
    out = preprocess.to_mnist(paper)
    assert out[0].max() == 0 and out[:, 0].max() == 0  # background black
    cy, cx = _centre_of_mass(out.astype(float))
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fitted into 20x20


def test_blank_image_is_an_error():
    with pytest.raises(preprocess.ImageError, match="no digit"):
        preprocess.to_mnist(np.full((50, 50), 255.0))


@pytest.mark.parametrize(
    "make",
    [
        lambda a: Image.fromarray(a).convert("P"),  # palette
        lambda a: Image.fromarray(255 - a).convert("CMYK"),
        lambda a: Image.fromarray((a.astype(np.uint16) * 257)).convert("I;16"),
        lambda a: Image.fromarray(255 - a).convert("LA"),
    ],
    ids=["palette", "cmyk", "16-bit", "grey+alpha"],
)
def test_image_modes_are_read(tmp_path, seven, make):
    path = tmp_path / "digit.tiff"
    make(seven).save(path)
    out = preprocess.load_digit(path)
    assert np.corrcoef(out.ravel(), seven.ravel())[0, 1] > 0.8


def test_animated_gif_uses_the_first_frame(tmp_path, seven):
    frames = [Image.fromarray(seven), Image.fromarray(np.zeros_like(seven))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = preprocess.load_digit(tmp_path / "a.gif")
    assert np.corrcoef(out.ravel(), seven.ravel())[0, 1] > 0.8


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"hello, not an image", "not an image file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "cannot decode"),
    ],
    ids=["empty", "text", "truncated-png"],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(preprocess.ImageError, match=message):
        preprocess.load_digit(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # a few kB on disk, 400 Mpixels decoded
    assert path.stat().st_size < 1_000_000
    with pytest.raises(preprocess.ImageError, match="decompression bomb"):
        preprocess.load_digit(path)
