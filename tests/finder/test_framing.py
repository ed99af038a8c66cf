"""framing.py: MNIST's own framing, and images already in it left as they are."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.finder import framing
from testbed import sheet
from tests.finder.scenes import scene
from tests.helpers import find_digit, similarity

# --- what the model is given -----------------------------------------------------------


def test_mnist_digits_as_pngs_are_read_as_they_are(test_digits):
    """MNIST's own form (28x28, white on exact black, 20 px, centred by mass) is the
    digit: every pixel comes back, for each of the fixture's test digits (as grey and as
    RGB)."""
    images = test_digits[0]
    for image in images:
        out = find_digit(tf.constant(sheet.encode(image))).numpy()
        assert out.dtype == np.uint8 and np.array_equal(out, image)
    rgb = np.repeat(images[0][..., None], 3, axis=2)
    assert np.array_equal(find_digit(tf.constant(sheet.encode(rgb))).numpy(), images[0])


def test_mnist_digits_drawn_dark_on_white_are_read_as_their_negatives(test_digits):
    """Black on exact white, as a paint program saves a 28x28 drawing: the negative of an
    MNIST digit is that digit, every pixel, for each of the fixture's test digits (the
    finder would frame it again and move it)."""
    for image in test_digits[0]:
        out = find_digit(tf.constant(sheet.encode(255 - image))).numpy()
        assert np.array_equal(out, image)


@pytest.mark.parametrize(
    "change",
    ["shifted", "dark_on_light_shifted", "grey_background", "small", "faint", "in_29x28"],
)
def test_a_28x28_not_in_mnist_form_goes_through_the_finder(digit, change):
    """Anything short of MNIST's form is found and framed as any capture is."""
    image = {
        "shifted": lambda: np.roll(digit, 4, axis=1),
        "dark_on_light_shifted": lambda: 255 - np.roll(digit, 4, axis=1),
        "grey_background": lambda: np.maximum(digit, 30),
        "small": lambda: np.pad(digit[::2, ::2], [[7, 7], [7, 7]]),
        "faint": lambda: (digit // 2).astype(np.uint8),
        "in_29x28": lambda: np.pad(digit, [[0, 1], [0, 0]]),
    }[change]().astype(np.uint8)
    assert not framing.mnist_form(
        tf.constant(image, tf.float32), tf.constant(image.shape, tf.int32)
    ).numpy()
    out = find_digit(tf.constant(sheet.encode(image))).numpy().astype(float)
    ys, xs = np.indices(out.shape)
    centre = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(centre[0] - 14) <= 0.5 and abs(centre[1] - 14) <= 0.5  # framed by the finder
    assert out.max() == 255 and similarity(out, digit) > 0.8


def test_framing_is_mnist_20x20_centred_by_mass(digit):
    cover, _ = scene(digit)
    out = find_digit(tf.constant(sheet.encode(sheet.on_paper(cover)))).numpy().astype(float)
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 20
    ys, xs = np.indices(out.shape)
    centre = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(centre[0] - 14) <= 0.5 and abs(centre[1] - 14) <= 0.5  # MNIST's: index 14.0
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0
