"""preprocess.py: what TensorFlow reads goes as it is; Pillow converts the rest, safely."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mnist_convnet.finder import preprocess
from tests.helpers import find_digit


def test_expand_keeps_files_and_lists_the_images_of_folders_sorted(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt", "c.webp"):
        (tmp_path / name).write_bytes(b"")
    found = preprocess.expand([str(tmp_path / "notes.txt"), str(tmp_path)])
    assert [p.name for p in found] == ["notes.txt", "a.JPG", "b.png", "c.webp"]


def test_a_folder_without_images_is_kept_and_reading_it_says_so(tmp_path):
    """`predict photos/` on a folder of .heic files printed nothing and exited 0."""
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"x")
    (found,) = preprocess.expand([str(tmp_path)])
    assert found == tmp_path
    with pytest.raises(preprocess.ImageError, match="a folder with no image files in it"):
        with preprocess.opened(found):
            pass


@pytest.fixture(scope="module")
def seven(test_digits):
    """A real test digit (whichever tfds puts first), uint8 28x28, white on black."""
    return test_digits[0][0]


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


@pytest.mark.parametrize(
    "fmt, suffix", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp")]
)
def test_what_tensorflow_decodes_is_sent_unchanged(tmp_path, seven, fmt, suffix):
    path = tmp_path / f"digit.{suffix}"
    Image.fromarray(255 - seven).save(path, format=fmt)
    assert preprocess.encoded_image(path) == path.read_bytes()


@pytest.mark.parametrize(
    "make",
    [
        lambda a: Image.fromarray(255 - a).convert("CMYK"),
        lambda a: Image.fromarray(a.astype(np.uint16) * 257).convert("I;16"),
        lambda a: Image.fromarray(255 - a),  # saved as TIFF below
    ],
    ids=["cmyk", "16-bit", "tiff"],
)
def test_other_files_become_a_png_that_reads_the_same(tmp_path, seven, make):
    path = tmp_path / "digit.tiff"
    make(seven).save(path)
    encoded = preprocess.encoded_image(path)
    assert encoded.startswith(b"\x89PNG")
    out = find_digit(tf.constant(encoded)).numpy()
    assert _similarity(out, find_digit(tf.constant(_png(seven))).numpy()) > 0.95


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_transparent_palette_gif_keeps_its_transparency(tmp_path, seven):
    """Black ink on a transparent GIF: TensorFlow's GIF decoder would show black on black."""
    image = Image.fromarray(np.where(seven > 127, 1, 0).astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # index 0 (transparent) and 1 are black
    path = tmp_path / "canvas.gif"
    image.save(path, transparency=0)
    encoded = preprocess.encoded_image(path)
    assert encoded.startswith(b"\x89PNG")
    assert _similarity(find_digit(tf.constant(encoded)).numpy(), seven) > 0.8


def test_exif_orientation_is_applied(tmp_path, seven):
    """A phone's JPEG stored sideways with an EXIF note: read upright."""
    sideways = Image.fromarray(255 - np.rot90(seven, 1))  # what the sensor stored
    exif = Image.Exif()
    exif[preprocess.EXIF_ORIENTATION] = 6  # "rotate 90 clockwise to show"
    path = tmp_path / "photo.jpg"
    sideways.resize((140, 140)).save(path, exif=exif, quality=95)
    upright = find_digit(tf.constant(preprocess.encoded_image(path))).numpy()
    assert _similarity(upright, find_digit(tf.constant(_png(seven))).numpy()) > 0.8


def test_animated_gif_uses_the_first_frame(tmp_path, seven):
    frames = [Image.fromarray(seven), Image.fromarray(np.zeros_like(seven))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = find_digit(tf.constant(preprocess.encoded_image(tmp_path / "a.gif"))).numpy()
    assert _similarity(out, seven) > 0.8


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"hello, not an image", "not an image file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "cannot decode|not an image file"),
    ],
    ids=["empty", "text", "truncated-png"],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(preprocess.ImageError, match=message):
        preprocess.encoded_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # a few kB on disk, 400 Mpixels decoded
    assert path.stat().st_size < 1_000_000
    with pytest.raises(preprocess.ImageError, match="decompression bomb"):
        preprocess.encoded_image(path)


def test_more_than_25_mpixels_is_refused(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (6000, 5000)).save(path)  # 30 Mpixels: under Pillow's bomb limit, over ours
    with pytest.raises(preprocess.ImageError, match="at most 25,000,000 pixels"):
        preprocess.encoded_image(path)
