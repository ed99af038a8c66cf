"""Stage 2, decode and grey: bytes (SavedModel) or a frame (reader.tflite) -> luminance
at work size.

The first frame only; a large JPEG decoded at 1/2-1/8 scale by libjpeg (TF Lite has no
decoders: a phone app decodes). Transparent pixels are composited onto a backdrop that
contrasts with the ink, so ink on a transparent canvas shows whatever its colour. The
work image's longer side is WORK_SIDE (area average when shrinking).
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.contract import MAX_PIXELS
from mnist_convnet.finder import ops
from mnist_convnet.finder.header import (
    GIF_MAGIC,
    check_header,
    gif_frame_pixels,
    gif_steps,
    image_size,
)
from mnist_convnet.finder.refusals import require

WORK_SIDE = 320  # longer side of the work image every input is resized to


def _jpeg_grey(encoded: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """A JPEG's luminance, shrunk 2/4/8x by libjpeg while decoding when it is that large.

    The DCT can be decoded at 1/2, 1/4 or 1/8 scale for a fraction of the work; we take
    the smallest that still covers WORK_SIDE. JPEG's Y channel is the same weighting as
    ``tf.image.rgb_to_grayscale``; JPEGs have no transparency.
    """
    longer = tf.reduce_max(size)

    def at(ratio: int):
        return lambda: tf.io.decode_jpeg(encoded, channels=1, ratio=ratio)

    branches = [(longer >= r * WORK_SIDE, at(r)) for r in (8, 4, 2)]
    return tf.cast(tf.case(branches, default=at(1)), tf.float32)[..., 0]


# Per channel count c (row c): luminance weights (tf.image.rgb_to_grayscale's for RGB),
# and alpha weights; an image without an alpha channel is opaque.
_GREY = ((), (1.0,), (1.0, 0.0), (0.2989, 0.5870, 0.1140), (0.2989, 0.5870, 0.1140, 0.0))
_ALPHA = ((), (0.0,), (0.0, 1 / 255), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1 / 255))


def _channel_weights(table: tuple, channels: int | tf.Tensor) -> tf.Tensor:
    """float32 [1, 1, c, 1]: row ``channels`` of ``table`` as a 1x1 convolution filter."""
    if isinstance(channels, int):
        row = tf.constant(table[channels], tf.float32)
    else:
        padded = tf.constant([list(r) + [0.0] * (4 - len(r)) for r in table], tf.float32)
        row = tf.gather(padded, channels)[:channels]
    return tf.reshape(row, [1, 1, -1, 1])


def grey_of(image: tf.Tensor, inside: tf.Tensor | None = None) -> tf.Tensor:
    """float32 [h, w, c] with c = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), 0..255
    -> float32 grey [h, w], transparent pixels resolved.

    Transparent pixels carry no ink, and whatever colour the app left under them means
    nothing. They are composited onto white when the visible ink is dark and onto black
    when it is light, so the ink always stands out from the backdrop. ``inside`` (float
    [h, w], 1 or 0) limits what counts as visible to the image in a larger frame. Channels are
    weighed by 1x1 convolutions: slicing them apart is an element-by-element copy in TF
    Lite.
    """
    channels = image.shape[-1] or tf.shape(image)[2]  # known in reader.tflite
    batch = tf.expand_dims(image, 0)

    def weigh(table: tuple) -> tf.Tensor:
        out = tf.nn.conv2d(batch, _channel_weights(table, channels), 1, "VALID")
        return tf.reshape(out, tf.shape(image)[:2])

    grey = weigh(_GREY)
    alpha = weigh(_ALPHA) + tf.cast(channels % 2, tf.float32)  # no alpha channel: opaque
    seen = alpha if inside is None else alpha * inside
    visible = tf.reduce_sum(grey * seen) / tf.maximum(tf.reduce_sum(seen), 1e-6)
    backdrop = tf.where(visible < 128.0, 255.0, 0.0)
    return grey * alpha + backdrop * (1.0 - alpha)


def decode_grey(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Encoded bytes -> (float32 grey in 0..255, the image's [height, width]).

    PNG, GIF or BMP: the first frame. The grey image may be smaller than the image (a
    large JPEG is decoded shrunk).
    """
    size = image_size(encoded)

    def any_grey() -> tf.Tensor:
        image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
        return grey_of(tf.cast(image, tf.float32))

    with tf.control_dependencies([check_header(size)]):
        jpeg = tf.equal(tf.strings.substr(encoded, 0, 2), b"\xff\xd8")
        gif = tf.equal(tf.strings.substr(encoded, 0, 4), GIF_MAGIC)
        costs = [
            tf.cond(gif, lambda: check_gif_frames(encoded), tf.no_op),
            tf.cond(jpeg, lambda: check_jpeg_scans(encoded, size), tf.no_op),
        ]
    with tf.control_dependencies(costs):
        grey = tf.cond(jpeg, lambda: _jpeg_grey(encoded, size), any_grey)
    return grey, size


def check_gif_frames(encoded: tf.Tensor) -> tf.Operation:
    """Refuses, before decoding, a GIF whose frames hold more than MAX_PIXELS in all."""
    pixels, finished = gif_frame_pixels(encoded)
    blocks = tf.strings.format(
        "GIF has more than {} blocks (frames, or sub-blocks under 128 bytes): too many to read",
        gif_steps(tf.strings.length(encoded)),
    )
    message = tf.strings.format(
        "GIF frames hold {} pixels in all; at most {} are accepted", (pixels, MAX_PIXELS)
    )
    with tf.control_dependencies([require(finished, blocks)]):
        return require(pixels <= MAX_PIXELS, message)


# Scans x pixels a JPEG may ask libjpeg to decode: 12 full passes of the largest image
# (libjpeg's own progressive JPEGs have 6 scans grey, 10 in colour).
JPEG_PIXEL_SCANS = 12 * MAX_PIXELS


def jpeg_scans(encoded: tf.Tensor) -> tf.Tensor:
    """int32: how many scans (SOS markers, ``FF DA``) a JPEG holds.

    libjpeg decodes every scan over the whole image, and a progressive scan repeated is
    only a warning to it, so a few bytes a scan can ask for thousands of passes. In the
    entropy-coded data every ``FF`` byte is stuffed (``FF 00``) or a restart marker, so
    ``FF DA`` begins a scan there; elsewhere (an EXIF thumbnail, say) it only over-counts.
    """
    return tf.size(tf.strings.split(encoded, sep=b"\xff\xda")) - 1


def check_jpeg_scans(encoded: tf.Tensor, size: tf.Tensor) -> tf.Operation:
    """Refuses, before decoding, a JPEG of more scans than JPEG_PIXEL_SCANS allows at its
    size (a 25-Mpixel image 12 scans, a 640x480 photo 976)."""
    scans = tf.cast(jpeg_scans(encoded), tf.int64)
    pixels = tf.maximum(size[0] * size[1], 1)
    most = JPEG_PIXEL_SCANS // pixels
    message = tf.strings.format(
        "JPEG has {} scans; at most {} are accepted at {}x{} pixels",
        (scans, most, size[1], size[0]),
    )
    return require(scans <= most, message)


def frame_grey(frame: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """reader.tflite's input -> (float32 grey [S, S], int32 [height, width] of the image).

    ``frame`` is uint8 [1, S, S, 4] RGBA — what a camera or canvas API hands an app —
    with the image in its top-left ``size`` (int32 [2], height and width) corner and
    anything in the rest; sizes outside 1..S are clipped. The whole frame is made grey
    (fixed shapes are fast in TF Lite) and ``work_image`` reads only the corner.
    """
    side = frame.shape[1]
    size = tf.clip_by_value(tf.cast(size, tf.int32), 1, side)
    rows = tf.cast(tf.range(side) < size[0], tf.float32)
    cols = tf.cast(tf.range(side) < size[1], tf.float32)
    inside = ops.column(rows) * ops.row(cols)  # 1.0 inside the image (a float product is fast)
    return grey_of(tf.cast(tf.reshape(frame, frame.shape[1:]), tf.float32), inside), size


def work_image(grey: tf.Tensor, extent: tf.Tensor | None = None) -> tf.Tensor:
    """The top-left ``extent`` [H, W] of ``grey`` (default: all of it) -> grey [h, w] with
    max(h, w) == WORK_SIDE.

    One working size whatever came in: the morphology below uses fixed windows, and a
    5000-pixel photo costs what a 640-pixel one does. Shrinking averages areas (no
    aliasing); enlarging a thumbnail interpolates.
    """
    extent = tf.shape(grey) if extent is None else extent
    shape = tf.cast(extent, tf.float32)
    scale = WORK_SIDE / tf.reduce_max(shape)
    size = tf.cast(tf.maximum(tf.round(shape * scale), 1.0), tf.int32)
    return tf.cond(
        scale < 1.0,
        lambda: ops.resize_area(grey, size, extent),
        lambda: ops.resize_bilinear(grey, size, extent),
    )
