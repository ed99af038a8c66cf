"""Stage 1, header: how big an image is, read before decoding it (SavedModel only).

Width x height come from the PNG/JPEG/GIF/BMP header and are refused above MAX_PIXELS
*before* decoding (a 1 MB PNG can hold 400 million pixels); a GIF's frames are summed as
well (its decoder expands every one), a JPEG's scans counted (libjpeg decodes each over
the whole image).
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.contract import MAX_PIXELS
from mnist_convnet.finder.refusals import require

GIF_MAGIC = b"GIF8"  # GIF87a and GIF89a


def _uint(encoded: tf.Tensor, start: int, length: int, little_endian: bool) -> tf.Tensor:
    """Unsigned integer of ``length`` bytes at ``start`` of a (padded) byte string."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(encoded, start, length), tf.uint8), tf.int64)
    weights = tf.constant([256**i for i in range(length)], tf.int64)
    return tf.reduce_sum(raw * (weights if little_endian else weights[::-1]))


def image_size(encoded: tf.Tensor) -> tf.Tensor:
    """int64 [height, width] from a PNG, JPEG, GIF or BMP header; [-1, -1] if none of them.

    PNG: IHDR at byte 16, big-endian. GIF: logical screen at byte 6, little-endian.
    BMP: BITMAPINFOHEADER at byte 18, little-endian, height negative for top-down rows.
    JPEG: the SOF segment, found by ``tf.io.extract_jpeg_shape`` without decoding.
    """
    padded = tf.strings.join([encoded, tf.constant(b"\0" * 32)])
    head = tf.strings.substr(padded, 0, 8)
    signed32 = lambda v: tf.where(v >= 2**31, v - 2**32, v)

    def jpeg() -> tf.Tensor:
        return tf.cast(tf.io.extract_jpeg_shape(encoded)[:2], tf.int64)

    branches = [
        (
            tf.equal(head, b"\x89PNG\r\n\x1a\n"),
            lambda: tf.stack([_uint(padded, 20, 4, False), _uint(padded, 16, 4, False)]),
        ),
        (tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8"), jpeg),
        (
            tf.equal(tf.strings.substr(head, 0, 4), GIF_MAGIC),
            lambda: tf.stack([_uint(padded, 8, 2, True), _uint(padded, 6, 2, True)]),
        ),
        (
            tf.equal(tf.strings.substr(head, 0, 2), b"BM"),
            lambda: tf.stack(
                [tf.abs(signed32(_uint(padded, 22, 4, True))), _uint(padded, 18, 4, True)]
            ),
        ),
    ]
    return tf.case(branches, default=lambda: tf.constant([-1, -1], tf.int64), exclusive=True)


GIF_STEPS = 1024  # blocks any GIF may have, plus one per 128 bytes (255-byte sub-blocks: 1/255)


def gif_frame_pixels(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """int64: the pixels of every frame of a GIF, summed over its image descriptors.

    The GIF decoder expands every frame before it returns the first (giflib's
    ``DGifSlurp``), so an animation of many large frames costs them all: the header's
    logical screen says nothing of how many there are, nor of a frame larger than the
    screen. The file is walked block by block, as the GIF89a spec lays it out: after the
    screen descriptor (and its colour table), extensions (``0x21``, label, sub-blocks)
    and images (``0x2C``, a 9-byte descriptor with the frame's width and height, a local
    colour table, the LZW code size, sub-blocks) until the trailer (``0x3B``) or anything
    else. Sub-blocks are skipped by their length bytes: every encoder writes them 255
    bytes long, so a walk takes about one step per 255 bytes (~20 us a step). A file cut
    into tiny sub-blocks would make it one step per two bytes, so the walk stops after
    ``GIF_STEPS`` steps plus one per 128 bytes, and returns whether it reached the end.
    Returns ``(pixels, finished)``.
    """
    length = tf.cast(tf.strings.length(encoded), tf.int64)
    padded = tf.strings.join([encoded, tf.constant(b"\0" * 16)])
    table = lambda packed: tf.where(  # a colour table's bytes, from a packed-fields byte
        tf.bitwise.bitwise_and(packed, 0x80) > 0,
        3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), tf.bitwise.bitwise_and(packed, 7)),
        tf.constant(0, tf.int64),
    )

    def step(at, in_blocks, pixels):
        window = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, at, 10), tf.uint8), tf.int64)
        here = window[0]
        image = tf.logical_and(tf.logical_not(in_blocks), tf.equal(here, 0x2C))
        extension = tf.logical_and(tf.logical_not(in_blocks), tf.equal(here, 0x21))
        frame = (window[5] + 256 * window[6]) * (window[7] + 256 * window[8])
        after_image = at + 11 + table(window[9])  # descriptor, table, LZW code size
        ends = tf.logical_not(tf.logical_or(in_blocks, tf.logical_or(image, extension)))
        at = tf.where(in_blocks, at + here + 1, tf.where(image, after_image, at + 2))
        return (
            tf.where(ends, length, at),  # the trailer, or not a block: the walk ends
            tf.logical_or(tf.logical_and(in_blocks, here > 0), tf.logical_or(image, extension)),
            pixels + tf.where(image, frame, tf.constant(0, tf.int64)),
        )

    # The header (6 bytes), the logical screen descriptor (7) and the global colour table.
    start = 13 + table(_uint(padded, 10, 1, True))
    at, _, pixels = tf.while_loop(
        lambda at, in_blocks, pixels: at < length,
        step,
        (start, tf.constant(False), tf.constant(0, tf.int64)),
        maximum_iterations=gif_steps(tf.strings.length(encoded)),
    )
    return pixels, at >= length


def gif_steps(length: tf.Tensor) -> tf.Tensor:
    """The walk's budget for a GIF of ``length`` bytes (int32)."""
    return GIF_STEPS + length // 128


def check_header(size: tf.Tensor) -> tf.Operation:
    """Refuses, before any decoding, what is not a known format or is too many pixels."""
    known = require(
        tf.reduce_all(size >= 0), "not a PNG, JPEG, GIF or BMP image (no header of one found)"
    )
    pixels = tf.cast(size[0], tf.float64) * tf.cast(size[1], tf.float64)
    message = tf.strings.format(
        "image is {}x{} pixels; at most {} are accepted", (size[1], size[0], MAX_PIXELS)
    )
    with tf.control_dependencies([known]):
        return require(pixels <= MAX_PIXELS, message)
