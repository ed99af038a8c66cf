"""find.py: the finder's stages in order, on captures of real MNIST test digits.

No model here: these tests check what the graph hands the model. A capture of a real
MNIST test digit (shadowed, lit from one side, framed, transparent, ...) must give the
28x28 image that a clean capture of the same digit gives.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet import contract
from mnist_convnet.finder import find, refusals
from testbed import sheet
from tests.finder.scenes import scene
from tests.helpers import find_digit, similarity


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"hello, not an image", "not a PNG, JPEG, GIF or BMP"),
        (lambda: b"", "not a PNG, JPEG, GIF or BMP"),
        (lambda: sheet.encode(np.full((60, 60), 255.0)), "no digit found"),  # all white
        (lambda: sheet.encode(np.zeros((60, 60))), "no digit found"),  # all black
        (lambda: sheet.encode(np.full((60, 60), 128.0)), "no digit found"),  # blank grey
        (lambda: sheet.encode(np.zeros((1, 1))), "no digit found"),  # 1x1
        (lambda: sheet.encode(np.full((60, 60), 200.0) + np.arange(60) % 3), "no digit found"),
    ],
    ids=["text", "empty", "white", "black", "grey", "1x1", "faint-texture"],
)
def test_nothing_to_read_is_one_clear_error(make, message):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(make()))
    assert refusals.error_message(error.value).startswith(message)


def test_only_edge_marks_is_no_digit():
    """A scan of an empty page with a shadow down one side: nothing to read."""
    paper = sheet.edge_shadow(np.full((200, 240), 240.0), np.random.default_rng(1))
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(sheet.encode(paper)))
    assert refusals.error_message(error.value).startswith("no digit found")


@pytest.mark.parametrize(
    "capture",
    [
        "light_on_dark",
        "colour_ink",
        "uneven_light",
        "shadow",
        "frame_line",
        "noise_jpeg",
        "canvas_black_ink",
        "canvas_white_ink",
    ],
)
def test_a_hard_capture_reads_like_a_clean_one(digit, capture):
    """The same digit in the same place: the capture must not change what the model sees."""
    cover, rng = scene(digit)
    clean = find_digit(tf.constant(sheet.encode(sheet.on_paper(cover, 240, 20)))).numpy()
    grey = sheet.on_paper(cover, 240, 20)
    if capture == "light_on_dark":
        encoded = sheet.encode(sheet.on_paper(cover, 30, 220))
    elif capture == "colour_ink":
        encoded = sheet.encode(sheet.colour(cover, (20, 40, 160), (250, 240, 220)))
    elif capture == "uneven_light":
        encoded = sheet.encode(sheet.uneven_light(grey, rng, 0.6))
    elif capture == "shadow":
        encoded = sheet.encode(sheet.edge_shadow(grey, rng))
    elif capture == "frame_line":
        encoded = sheet.encode(sheet.frame_line(grey, rng, 0))
    elif capture == "noise_jpeg":
        encoded = sheet.encode(sheet.noise(grey, rng, 8), "JPEG", quality=50)
    else:
        ink = 0.0 if capture == "canvas_black_ink" else 255.0
        rgba = np.zeros(cover.shape + (4,))
        rgba[..., :3] = np.where(cover[..., None] > 0, ink, 0.0)  # black under transparent
        rgba[..., 3] = 255 * cover
        encoded = sheet.encode(rgba)
    out = find_digit(tf.constant(encoded)).numpy()
    assert similarity(out, clean) > 0.9, capture


def test_a_digit_reaching_the_edge_is_kept(digit):
    """A drawing that ran off the canvas is still the digit, not an edge mark."""
    cover = sheet.ink(digit, 120, np.random.default_rng(0))
    field = np.zeros((cover.shape[0] + 10, cover.shape[1] + 40))
    field[10:, 20 : 20 + cover.shape[1]] = cover  # touches the bottom edge
    out = find_digit(tf.constant(sheet.encode(sheet.on_paper(field)))).numpy()
    assert similarity(out, find_digit(tf.constant(sheet.encode(digit))).numpy()) > 0.8


# --- the shared core answers with a status, never an error -------------------------------


@pytest.mark.parametrize(
    "grey, status",
    [
        (np.full((60, 60), 255.0), contract.BLANK),
        (np.full((60, 60), 128.0), contract.BLANK),
        (np.random.default_rng(0).uniform(0, 255, (200, 200)), None),  # noise: not FOUND
        (np.full((400, 6), 200.0), contract.BAD_SIZE),  # a sliver
    ],
    ids=["white", "grey", "noise", "sliver"],
)
def test_nothing_to_read_is_a_status_in_the_core(grey, status):
    image, got = find.read_digit(tf.constant(grey, tf.float32))
    digits, boxes, count, got_number = find.read_number(tf.constant(grey, tf.float32))
    if status is None:
        return  # noise may hold "digits"; it must only not raise (tests/test_tflite too)
    assert int(got) == int(got_number) == status
    assert not image.numpy().any() and not digits.numpy().any() and int(count) == 0
