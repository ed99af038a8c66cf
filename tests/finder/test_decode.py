"""decode.py: what is decoded (a JPEG's scans counted first), and its grey."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.finder import decode, refusals
from testbed import sheet
from tests.finder.scenes import scene
from tests.helpers import find_digit


def _scan_ends(data: bytes) -> list[int]:
    """Where each scan (SOS segment and its entropy-coded data) of a JPEG ends: the
    oracle, walking the segments by their lengths and the data to its next marker."""
    at, ends = 2, []
    while at < len(data) and data[at + 1] != 0xD9:
        end = at + 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
        if data[at + 1] == 0xDA:
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
            ends.append(end)
        at = end
    return ends


@pytest.mark.parametrize(
    "channels, options",
    [(1, {}), (3, {}), (1, {"progressive": True}), (3, {"progressive": True})],
    ids=["grey", "colour", "grey-progressive", "colour-progressive"],
)
def test_jpeg_scans_are_counted_as_the_segments_hold_them(channels, options):
    rng = np.random.default_rng(0)
    image = rng.normal(128, 40, (90, 120, channels)).squeeze()
    data = sheet.encode(image, "JPEG", **options)
    assert decode.jpeg_scans(tf.constant(data)).numpy() == len(_scan_ends(data))


def test_a_progressive_jpeg_of_a_thousand_scans_is_refused_before_decoding():
    """libjpeg decodes every scan, and a scan repeated is only a warning: 1,000 copies of
    the last scan of a 2000x2000 grey JPEG are ~50 kB and seconds of decoding."""
    data = sheet.encode(np.full((2000, 2000), 200.0), "JPEG", progressive=True)
    last = _scan_ends(data)
    scan = data[last[-2] : last[-1]]
    bomb = data[: last[-1]] + scan * 1000 + b"\xff\xd9"
    assert len(bomb) < 60_000
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bomb))
    assert refusals.error_message(error.value) == (
        "JPEG has 1006 scans; at most 75 are accepted at 2000x2000 pixels"
    )


def test_a_progressive_jpeg_reads_as_the_baseline_one(digit):
    cover, _ = scene(digit)
    page = sheet.on_paper(cover)
    baseline = find_digit(tf.constant(sheet.encode(page, "JPEG", quality=90)))
    progressive = find_digit(tf.constant(sheet.encode(page, "JPEG", quality=90, progressive=True)))
    np.testing.assert_array_equal(progressive.numpy(), baseline.numpy())


def test_frame_grey_reads_the_corner_as_grey_of_the_image():
    rng = np.random.default_rng(1)
    rgba = rng.uniform(0, 255, (50, 70, 4)).astype(np.uint8)
    frame = np.zeros((1, 128, 128, 4), np.uint8)
    frame[0, :50, :70] = rgba
    frame[0, 60:, 80:] = 255  # the rest of the frame is no part of the image
    grey, size = decode.frame_grey(tf.constant(frame), tf.constant([50, 70]))
    expected = decode.grey_of(tf.constant(rgba, tf.float32))
    assert size.numpy().tolist() == [50, 70]
    np.testing.assert_allclose(grey.numpy()[:50, :70], expected, atol=1e-3)


def test_grey_of_weighs_channels_as_rgb_to_grayscale():
    rng = np.random.default_rng(2)
    rgb = rng.uniform(0, 255, (9, 11, 3)).astype(np.float32)
    expected = tf.image.rgb_to_grayscale(rgb)[..., 0]
    np.testing.assert_allclose(decode.grey_of(tf.constant(rgb)), expected, atol=1e-3)
    grey_alpha = np.stack([rgb[..., 0], np.full((9, 11), 255.0, np.float32)], -1)
    np.testing.assert_allclose(decode.grey_of(tf.constant(grey_alpha)), rgb[..., 0], atol=1e-3)
