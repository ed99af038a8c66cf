"""header.py: an image's size read from its header, and bombs refused before decoding."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.finder import header, refusals
from testbed import sheet
from tests.finder.scenes import scene
from tests.helpers import find_digit, png_bomb

gif_frame_pixels = tf.function(
    header.gif_frame_pixels, input_signature=[tf.TensorSpec([], tf.string)]
)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
@pytest.mark.parametrize("size", [(1, 1), (37, 5), (640, 480)])
def test_image_size_is_read_from_the_header(fmt, size):
    width, height = size
    encoded = sheet.encode(np.zeros((height, width)), fmt)
    assert header.image_size(tf.constant(encoded)).numpy().tolist() == [height, width]


@pytest.mark.slow
def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = png_bomb(20000, 20000)  # 400 Mpixels in about 400 kB
    assert len(bomb) < 1_000_000
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bomb))
    assert refusals.error_message(error.value) == (
        "image is 20000x20000 pixels; at most 25000000 are accepted"
    )


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_forged_headers_of_other_formats_are_refused(fmt):
    """The size fields of a small GIF/BMP rewritten to 30000x30000: refused, not decoded."""
    data = bytearray(sheet.encode(np.zeros((8, 8)), fmt))
    if fmt == "GIF":
        data[6:10] = struct.pack("<HH", 30000, 30000)
    else:
        data[18:26] = struct.pack("<ii", 30000, -30000)  # top-down rows: negative height
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bytes(data)))
    assert "image is 30000x30000 pixels" in refusals.error_message(error.value)


def _animated_gif(frames: list[np.ndarray]) -> bytes:
    """An animated GIF of these grey frames, each stored whole (alternate frames differ
    everywhere, so no encoder can store a smaller rectangle)."""
    import io

    from PIL import Image

    images = [Image.fromarray(np.clip(np.round(f), 0, 255).astype(np.uint8)) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], loop=0)
    return buffer.getvalue()


def _frame_pixels_by_pil(data: bytes) -> int:
    """The pixels of every frame's image descriptor, as Pillow reads them (the oracle)."""
    import io

    from PIL import Image

    total = 0
    with Image.open(io.BytesIO(data)) as image:
        for index in range(image.n_frames):
            image.seek(index)
            x0, y0, x1, y1 = image.tile[0][1] if image.tile else (0, 0, 0, 0)
            total += (x1 - x0) * (y1 - y0)
    return total


@pytest.mark.parametrize("frames, size", [(1, (5, 7)), (3, (40, 30)), (12, (64, 64))])
def test_gif_frame_pixels_count_every_frame_as_the_decoder_will(frames, size):
    sheets = [np.full(size, 255 * (i % 2)) for i in range(frames)]
    data = _animated_gif(sheets)
    counted, finished = gif_frame_pixels(tf.constant(data))
    assert counted.numpy() == _frame_pixels_by_pil(data) == frames * size[0] * size[1]
    assert finished


def test_an_animated_gif_bomb_is_refused_before_decoding():
    """The decoder expands every frame of a GIF, though only the first is read: 30 frames
    of 1000x1000 in ~60 kB would cost 30 Mpixels of decoding. The header says 1 Mpixel."""
    bomb = _animated_gif([np.full((1000, 1000), 255 * (i % 2)) for i in range(30)])
    assert len(bomb) < 100_000
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bomb))
    assert refusals.error_message(error.value) == (
        "GIF frames hold 30000000 pixels in all; at most 25000000 are accepted"
    )


def test_a_gif_frame_larger_than_its_screen_is_counted_by_its_own_size():
    data = bytearray(_animated_gif([np.zeros((8, 8)), np.full((8, 8), 255)]))
    descriptor = data.index(b"\x2c\x00\x00\x00\x00\x08\x00\x08\x00")  # the first frame's
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", 30000, 30000)
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bytes(data)))
    assert "GIF frames hold 900000064 pixels in all" in refusals.error_message(error.value)


def test_a_gif_cut_into_tiny_sub_blocks_is_refused_after_a_bounded_walk():
    """One frame whose 400 kB of data are 1-byte sub-blocks: 200,000 steps to walk, so the
    walk stops at its budget (1024 + 400,000 / 128 steps) and the GIF is refused."""
    head = _animated_gif([np.zeros((8, 8))])
    descriptor = head.index(b"\x2c\x00\x00\x00\x00\x08\x00\x08\x00")
    packed = head[descriptor + 9]
    table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
    body = head[: descriptor + 10 + table] + b"\x02" + b"\x01\x00" * 200_000 + b"\x00\x3b"
    _, finished = gif_frame_pixels(tf.constant(body))
    assert not finished
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(body))
    assert refusals.error_message(error.value).startswith("GIF has more than 4149 blocks")


def test_an_animated_gif_is_read_as_its_first_frame(digit):
    cover, _ = scene(digit)
    page = sheet.on_paper(cover)
    still = find_digit(tf.constant(sheet.encode(page, "GIF")))
    moving = find_digit(tf.constant(_animated_gif([page, 255 - page, page])))
    np.testing.assert_array_equal(moving.numpy(), still.numpy())
