"""sheet.py: a digit's ink drawn at the asked size, on paper, and encoded as asked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from testbed import sheet


def _digit() -> np.ndarray:
    """A 28x28 "1": a bar from row 4 to row 23."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255
    return digit


@pytest.mark.parametrize("height", [12, 60, 140])
def test_ink_is_the_digit_at_the_asked_height(height):
    cover = sheet.ink(_digit(), height, np.random.default_rng(0))
    assert cover.shape[0] == height and 0.0 <= cover.min() and cover.max() <= 1.0
    assert cover.max() > 0.9  # the stroke is ink, not grey


def test_a_digit_is_placed_whole_inside_its_frame():
    field = sheet.single(np.random.default_rng(1), _digit(), 50, frame=(120, 160))
    assert field.shape == (120, 160)
    rows = np.flatnonzero(field.max(1) > 0.5)
    assert rows[-1] - rows[0] + 1 >= 45  # all of the 50-px digit is there


def test_paper_and_ink_take_the_asked_grey_levels():
    cover = np.zeros((10, 10))
    cover[3:7, 3:7] = 1.0
    grey = sheet.on_paper(cover, paper=230.0, ink_level=30.0)
    assert grey[0, 0] == pytest.approx(230.0) and grey[5, 5] == pytest.approx(30.0)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_encode_writes_the_format_and_the_pixels(fmt):
    grey = np.tile(np.linspace(0, 255, 64), (48, 1))
    image = Image.open(io.BytesIO(sheet.encode(grey, fmt)))
    assert image.format == fmt and image.size == (64, 48)
    tolerance = 12 if fmt == "JPEG" else 1
    assert np.abs(np.asarray(image.convert("L"), float) - np.round(grey)).max() <= tolerance


def test_uneven_light_and_shadow_darken_part_of_the_page():
    rng = np.random.default_rng(2)
    page = np.full((100, 120), 240.0)
    lit = sheet.uneven_light(page, rng, 0.4)
    assert lit.max() - lit.min() > 30
    shadow = sheet.edge_shadow(page, rng)
    assert shadow.min() < 150 and np.median(shadow) > 230
