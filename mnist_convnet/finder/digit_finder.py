"""Find the handwritten digit (or the row of digits) in any image, in TensorFlow ops.

This is what makes a photo readable by a model trained on MNIST. It lives *inside* the
SavedModel, so TF Serving, our REST server, ``mnist-convnet predict`` and the page all run
the same graph, and the same functions build ``reader.tflite`` for phones (``tflite.py``):
every op below has a builtin TF Lite kernel, and a test converts the finder with
``TFLITE_BUILTINS`` alone. MNIST digits are white ink on black, fitted into 20x20 and
centred by mass in 28x28; a user's capture is anything else. The steps:

    header      width x height read from the PNG/JPEG/GIF/BMP header; refused above
                MAX_PIXELS *before* decoding (a 1 MB PNG can hold 400 million pixels);
                a GIF's frames summed as well (its decoder expands every one), a
                JPEG's scans counted (libjpeg decodes each over the whole image)
    decode      first frame; a large JPEG decoded at 1/2-1/8 scale by libjpeg
                (SavedModel only: TF Lite has no decoders, a phone app decodes)
    grey        luminance; transparent pixels composited onto a backdrop that contrasts
                with the ink, so ink on a transparent canvas shows whatever its colour
    MNIST form  an image that already is an MNIST digit (28x28, white on exact black,
                fitted into 20 px and centred by mass) is the digit: nothing to find,
                and finding it again would only move it (single digits only); so is
                its negative (black on exact white, a paint program's drawing) inverted
    work image  resized so the longer side is WORK_SIDE (area average when shrinking)
    polarity    dark ink on light paper, or light on dark: which extreme is farther
                from the median, measured against a fitted illumination surface
    background  ink = |image - local background|; the background is a grey-level
                opening on a coarse grid (min over blocks sized by the shorter side,
                then a 5x5 min and max), so a lamp or a shadow is background, not ink
    threshold   ink > max(0.3 x peak, 4 x noise): the noise is the background's MAD
    components  ink in unbroken runs along 90% of a side peeled off (shadows, page
                edges); 8-connected labels on the list of ink cells of a 2x coarser
                grid (runs, neighbours, pointer jumping)
    pick        drop edge marks (thin components along an image edge), straight
                lines across the image (a frame's sides, ruled lines), specks (< 4% of
                the largest), frames (a box around another component); for one digit,
                keep what stays near the largest
    to_mnist    crop -> ink levels stretched to 0..255 -> hairlines thickened -> fit
                20x20 keeping the aspect ratio -> paste into 28x28 with the centre of
                mass at MNIST's (14, 14)

Numbers: the picked components, grouped left to right so that components overlapping
horizontally are one digit, and short fragments (a "5"'s detached top bar, an open "4"'s
arm) join the nearest digit; each group goes through ``to_mnist``.

The shared core (``read_digit``, ``read_number``) never raises: TF Lite has no
exceptions, so it returns a ``status`` (FOUND, or why not, see REASONS) and zeros.
The SavedModel's entry points (``find_digit``, ``find_number``) turn a status other
than FOUND into an ``InvalidArgumentError`` whose message is the reason ("no digit
found: ...", "image is ... pixels"): TF Serving and our REST server answer it with HTTP
400; ``error_message`` extracts the sentence.

Tuned numbers are named below, each with the row of ``docs/captures.md`` ("What was
found and fixed while tuning") that set it; "first version" means no later row moved it.
"""

from __future__ import annotations

import re

import tensorflow as tf

from mnist_convnet.contract import (
    BAD_SIZE,
    BLANK,
    FOUND,
    MAX_DIGITS,
    MAX_PIXELS,
    NO_WRITING,
    NOISE,
    REASONS,
    SIZE,
    TOO_MANY,
)
from mnist_convnet.errors import first_line

WORK_SIDE = 320  # longer side of the work image every input is resized to
BOX = 20  # MNIST fits each digit into BOX x BOX inside SIZE x SIZE, its centre of mass at
CENTRE = 14.0  # pixel index CENTRE: measured over MNIST's test set (row "everything": 13.5
#                was a one-pixel shift)
# What every one of MNIST's 10,000 test digits has (row "Already MNIST"): at
# least 60% of pixels exactly 0, a peak of 254-255, the inked box's longer side 19-20 px,
# the centre of mass within half a pixel of CENTRE. An image with all four is read as it is.
MNIST_BACKGROUND = 0.5  # fraction of exact zeros, at least
MNIST_PEAK = 250.0
MNIST_BOX = (19, 20)

# Tuned numbers, with the row of docs/captures.md that set each.
BLOCK = 20  # background blocks are at most BLOCK x BLOCK work pixels (first version)
BLOCKS_PER_SHORT_SIDE = 12  # blocks follow the shorter side (row "numbers, photo 83-89%")
RIDGE = 1e-3  # l2 regulariser of the illumination fit (row "phone photo")
MIN_CONTRAST = 12.0  # grey levels between ink and background, below: no ink (first version)
PEAK_FRACTION = 0.3  # ink is above this fraction of the peak ... (first version)
NOISE_SIGMAS = 4.0  # ... and this many noise sigmas above the median (first version)
STANDS_OUT = 1.6  # writing peaks at least this far above that noise floor; noise does not
#                   (row "frames of noise": >= 2.27 on every capture, <= 1.17 on noise)
LONG_RUN = 0.9  # ink in unbroken runs along this much of a side is peeled off (row "scan
#                 with shadow 80-87%")
EDGE_ALONG = 0.5  # an edge mark runs along at least this much of the edge it touches ...
EDGE_THIN = 0.35  # ... and reaches at most this far into the image (row "digit at the edge
#                   + pepper")
WRITING_BESIDE_MARKS = 0.05  # writing beside edge marks is >= this of their size (same row)
LINE_SPAN = 0.6  # a ruled line or a frame's side spans this much of the image ...
LINE_THIN = 0.06  # ... and is at most this thick for its length (row "rows of 2-8 digits")
EDGE_CUT = 0.5  # edge-cut pieces under this fraction of the largest inner one are
#                 dropped (row "numbers, photo 83-89%")
SPECK = 0.04  # components smaller than this fraction of the largest are specks (first version)
TALL = 0.45  # in a number, pieces shorter than this fraction of the tallest are fragments
#              that join the nearest digit (row "numbers, photo 83-89%")
SAME_DIGIT = 0.5  # tall pieces overlapping this much of the narrower one are one digit
#                   (row "numbers, photo 83-89%")
NEAR = 0.5  # one digit keeps components within this much of its largest one's size (first
#             version)
MARGIN = 1  # work pixels around the thresholded ink kept as the strokes' soft edges
#             (first version)
STROKE = 2.0  # thinnest stroke, in pixels of the 20x20 box, handed to the model (row
#               "rows of 2-8 digits")

# --- errors (SavedModel only) ----------------------------------------------------------


def _require(condition: tf.Tensor, message: str | tf.Tensor) -> tf.Operation:
    """An op raising InvalidArgumentError("assertion failed: [message]") if not condition."""
    return tf.debugging.Assert(condition, [message], name="require")


def error_message(error: tf.errors.OpError) -> str:
    """The sentence of a refusal from this graph (or the first line of any other error)."""
    text = (error.message or "").strip()
    found = re.search(r"assertion failed: \[(.*?)\]", text)  # in a graph
    found = found or re.search(r"Summarized data: b[\"'](.*?)[\"']\s*$", text, re.M)  # eagerly
    if found:
        return found.group(1)
    # A decoder's own complaint, under "Graph execution error:" and the node it came from.
    bad = re.search(r"Invalid (PNG|JPEG|GIF|BMP)\b|inherent in the image", text)
    if bad:
        kind = bad.group(1) or "BMP"
        return f"the {kind} image is truncated or corrupt: it cannot be decoded"
    if re.search(r"node \S*(Decode|ExtractJpegShape)", text):
        return "the image is truncated or corrupt: it cannot be decoded"
    return first_line(error)


def _raise_unless_found(status: tf.Tensor, count: tf.Tensor | None = None) -> tf.Operation:
    """InvalidArgument with REASONS[status] (and how many digits, for TOO_MANY)."""
    reason = tf.gather(tf.constant(REASONS), status)
    if count is not None:
        many = tf.strings.format("found {} digits; at most {} are read", (count, MAX_DIGITS))
        reason = tf.where(tf.equal(status, TOO_MANY), many, reason)
    return _require(tf.equal(status, FOUND), reason)


# --- small builtin-only pieces ---------------------------------------------------------
# TF Lite's builtins lack a few ops the obvious code uses (HistogramFixedWidth,
# MatrixTriangularSolve, SegmentMax, ScaleAndTranslate, StridedSlice with new axes); these
# say the same thing with ops it has.


def _column(x: tf.Tensor) -> tf.Tensor:
    """[n] -> [n, 1] (``x[:, None]`` is a new-axis StridedSlice, not a TF Lite builtin)."""
    return tf.expand_dims(x, 1)


def _row(x: tf.Tensor) -> tf.Tensor:
    """[n] -> [1, n]."""
    return tf.expand_dims(x, 0)


def _count(x: tf.Tensor) -> tf.Tensor:
    """int32 length of the first axis."""
    return tf.shape(x)[0]


def _spaced(n: tf.Tensor) -> tf.Tensor:
    """float32 [n]: ``tf.linspace(-1.0, 1.0, n)`` (a LinSpace op is no TF Lite builtin)."""
    step = 2.0 / tf.cast(tf.maximum(n - 1, 1), tf.float32)
    return tf.cast(tf.range(n), tf.float32) * step - 1.0


def solve_spd(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """x with a @ x = b, for a small symmetric positive definite ``a`` [n, n] of static n.

    Gauss-Jordan elimination without pivoting, unrolled: safe for an SPD matrix (the
    pivots are the Cholesky pivots squared), and every step an elementwise op.
    """
    n = a.shape[0]
    m = tf.concat([a, b], axis=1)
    for k in range(n):
        pivot = m[k] / m[k, k]
        eliminate = m[:, k] - tf.one_hot(k, n, dtype=m.dtype)  # row k becomes the pivot row
        m = m - _column(eliminate) * _row(pivot)
    return m[:, n:]


def _argmax_nonempty(x: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """int32 ``tf.argmax`` that a TF Lite graph can prepare on an empty axis.

    TF Lite's IF prepares both branches with the tensors at hand, so a branch that runs
    only when there are components is prepared when there are none, and ARG_MAX refuses an
    empty axis. A last entry below every value is appended: never the answer otherwise.
    """
    floor = tf.zeros_like(tf.reduce_sum(x, axis=axis, keepdims=True)) - 3.0e38
    return tf.cast(tf.argmax(tf.concat([x, floor], axis=axis), axis=axis), tf.int32)


def cumulative_max(x: tf.Tensor) -> tf.Tensor:
    """[n] -> [n]: max of x[0..i] (``tf.scan`` would need TensorList ops); n is small."""
    index = tf.range(_count(x))
    upto = _row(index) <= _column(index)  # [i, j]: j <= i
    return tf.reduce_max(tf.where(upto, _row(x), tf.reduce_min(x)), axis=1)


def _area_rows(x: tf.Tensor, out: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
    """Rows 0..extent-1 of [H, W] averaged down to ``out`` rows, each the mean of the
    rows it covers. The integral of a piecewise-constant image is piecewise linear, so an
    output row's sum is a difference of the cumulative sum interpolated at its edges."""
    zero = tf.zeros_like(x[:1])
    total = tf.concat([zero, tf.cumsum(x - 128.0, axis=0)], axis=0)  # centred: fewer bits lost
    ratio = tf.cast(extent, tf.float32) / tf.cast(out, tf.float32)
    edges = tf.cast(tf.range(out + 1), tf.float32) * ratio
    low = tf.floor(edges)
    high = tf.minimum(low + 1.0, tf.cast(extent, tf.float32))
    frac = _column(edges - low)
    at = tf.gather(total, tf.cast(low, tf.int32)) * (1.0 - frac)
    at += tf.gather(total, tf.cast(high, tf.int32)) * frac
    return (at[1:] - at[:-1]) / ratio + 128.0


def _bilinear_rows(x: tf.Tensor, out: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
    """Rows 0..extent-1 of [H, W] interpolated to ``out`` rows, half-pixel centres."""
    ratio = tf.cast(extent, tf.float32) / tf.cast(out, tf.float32)
    at = tf.maximum((tf.cast(tf.range(out), tf.float32) + 0.5) * ratio - 0.5, 0.0)
    low = tf.floor(at)
    high = tf.minimum(low + 1.0, tf.cast(extent - 1, tf.float32))
    frac = _column(at - low)
    return (
        tf.gather(x, tf.cast(low, tf.int32)) * (1.0 - frac)
        + tf.gather(x, tf.cast(high, tf.int32)) * frac
    )


def _separable(rows_fn, x: tf.Tensor, size: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
    rows = rows_fn(x, size[0], extent[0])
    return tf.transpose(rows_fn(tf.transpose(rows), size[1], extent[1]))


def resize_area(x: tf.Tensor, size: tf.Tensor, extent: tf.Tensor | None = None) -> tf.Tensor:
    """The top-left ``extent`` (default: all) of [H, W] shrunk to ``size`` [h, w], each
    pixel the mean of the area it covers: ``tf.image.resize(method="area")`` without its
    ResizeArea op, in O(H x W). Reading a corner by index needs no crop of ``x`` (a
    reader.tflite frame), which TF Lite would copy element by element."""
    return _separable(_area_rows, x, size, tf.shape(x) if extent is None else extent)


def resize_bilinear(x: tf.Tensor, size: tf.Tensor, extent: tf.Tensor | None = None) -> tf.Tensor:
    """The top-left ``extent`` of [H, W] resized to ``size``: ``tf.image.resize``'s
    bilinear (half-pixel centres), as gathers of rows and columns."""
    return _separable(_bilinear_rows, x, size, tf.shape(x) if extent is None else extent)


def _antialias_weights(out: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """float32 [out, length]: the rows of ScaleAndTranslate's triangle filter.

    Output pixel i samples the input at (i + 0.5) / scale with a triangle as wide as
    one output pixel (never narrower than one input pixel); weights sum to 1 per row.
    """
    scale = tf.cast(out, tf.float32) / tf.cast(length, tf.float32)
    width = tf.maximum(1.0 / scale, 1.0)
    centre = (tf.cast(tf.range(out), tf.float32) + 0.5) / scale
    source = tf.cast(tf.range(length), tf.float32) + 0.5
    weights = tf.nn.relu(1.0 - tf.abs(_row(source) - _column(centre)) / width)
    return weights / tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1e-12)


def resize_antialiased(x: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """[H, W] -> [h, w]: ``tf.image.resize(method="bilinear", antialias=True)``, as two
    small matrix products (the crops it is used on are at most WORK_SIDE square)."""
    rows = _antialias_weights(size[0], tf.shape(x)[0])
    cols = _antialias_weights(size[1], tf.shape(x)[1])
    return tf.matmul(tf.matmul(rows, x), cols, transpose_b=True)


# --- header: how big is the image, before decoding it (SavedModel only) -----------------


_GIF = b"GIF8"  # GIF87a and GIF89a


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
            tf.equal(tf.strings.substr(head, 0, 4), _GIF),
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
    known = _require(
        tf.reduce_all(size >= 0), "not a PNG, JPEG, GIF or BMP image (no header of one found)"
    )
    pixels = tf.cast(size[0], tf.float64) * tf.cast(size[1], tf.float64)
    message = tf.strings.format(
        "image is {}x{} pixels; at most {} are accepted", (size[1], size[0], MAX_PIXELS)
    )
    with tf.control_dependencies([known]):
        return _require(pixels <= MAX_PIXELS, message)


# --- decode (SavedModel only) and grey ---------------------------------------------------


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
        gif = tf.equal(tf.strings.substr(encoded, 0, 4), _GIF)
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
    with tf.control_dependencies([_require(finished, blocks)]):
        return _require(pixels <= MAX_PIXELS, message)


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
    return _require(scans <= most, message)


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
    inside = _column(rows) * _row(cols)  # 1.0 inside the image (a float product is fast)
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
        lambda: resize_area(grey, size, extent),
        lambda: resize_bilinear(grey, size, extent),
    )


# --- ink: polarity, illumination, threshold -------------------------------------------


def _edge_pad(x: tf.Tensor) -> tf.Tensor:
    """[h, w] -> [h + 2, w + 2], the edge rows and columns repeated: ``tf.pad`` with
    mode="SYMMETRIC" by one pixel, as concatenations (TF Lite's MIRROR_PAD is 13x slower)."""
    x = tf.concat([x[:1], x, x[-1:]], axis=0)
    return tf.concat([x[:, :1], x, x[:, -1:]], axis=1)


def _window3(x: tf.Tensor, combine) -> tf.Tensor:
    """3x3 neighbourhood of every pixel of [h, w] folded with ``combine`` (edges mirrored).

    Shifted slices, not tf.nn.max_pool2d: on one channel the pooling kernel is 20x slower.
    """
    p = _edge_pad(x)
    across = combine(combine(p[:, :-2], p[:, 1:-1]), p[:, 2:])
    return combine(combine(across[:-2], across[1:-1]), across[2:])


def dilate(x: tf.Tensor) -> tf.Tensor:
    return _window3(x, tf.maximum)


def erode(x: tf.Tensor) -> tf.Tensor:
    return _window3(x, tf.minimum)


def smooth(x: tf.Tensor) -> tf.Tensor:
    return _window3(x, tf.add) / 9.0


def _blocks(x: tf.Tensor, block: int | tf.Tensor, reduce) -> tf.Tensor:
    """``reduce`` over block x block tiles of [h, w] (the last tiles padded by mirroring)."""
    shape = tf.shape(x)
    pad = (-shape) % block
    # Mirrored (SYMMETRIC) padding at the end, by reversing the last rows and columns.
    p = tf.concat([x, tf.reverse(x[shape[0] - pad[0] :], [0])], axis=0)
    p = tf.concat([p, tf.reverse(p[:, shape[1] - pad[1] :], [1])], axis=1)
    tiles = tf.reshape(
        p, [(shape[0] + pad[0]) // block, block, (shape[1] + pad[1]) // block, block]
    )
    return reduce(tiles, axis=[1, 3])


def block_min(x: tf.Tensor, block: int | tf.Tensor) -> tf.Tensor:
    return _blocks(x, block, tf.reduce_min)


def percentile(values: tf.Tensor, q: float | tf.Tensor) -> tf.Tensor:
    """The q-quantile (0..1) of grey levels in [0, 256), to within one level.

    From a 256-bin histogram (a segment sum over each value's level): sorting 100,000
    floats costs 10 ms here, this 0.6 ms.
    """
    level = tf.cast(tf.clip_by_value(tf.reshape(values, [-1]), 0.0, 255.0), tf.int32)  # floor
    counts = tf.math.unsorted_segment_sum(tf.ones_like(level), level, 256)
    cumulative = tf.cumsum(counts)
    wanted = tf.cast(tf.math.ceil(q * tf.cast(cumulative[-1], tf.float32)), tf.int32)
    return tf.cast(tf.argmax(cumulative >= tf.maximum(wanted, 1)), tf.float32)


def _surface_terms(rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """[rows x cols, 6]: 1, u, v, u², v², uv on a grid over [-1, 1]²."""
    v = tf.reshape(_column(_spaced(rows)) + tf.zeros([1, cols]), [-1])
    u = tf.reshape(_row(_spaced(cols)) + tf.zeros([rows, 1]), [-1])
    return tf.stack([tf.ones_like(u), u, v, u * u, v * v, u * v], axis=1)


def illumination(grey: tf.Tensor) -> tf.Tensor:
    """[h, w]: a quadratic surface least-squares-fitted to the BLOCK means of ``grey``.

    A lamp to one side, a vignette, a hot spot are low-order: the surface follows them.
    A digit is small, sharp detail: it barely moves the fit. The ridge-regularised
    normal equations (what ``tf.linalg.lstsq`` solves) are 6x6: ``solve_spd``.
    """
    means = _blocks(grey, BLOCK, tf.reduce_mean)
    grid = tf.shape(means)
    terms = _surface_terms(grid[0], grid[1])
    normal = tf.matmul(terms, terms, transpose_a=True) + RIDGE * tf.eye(6)
    coefficients = solve_spd(normal, tf.matmul(terms, tf.reshape(means, [-1, 1]), transpose_a=True))
    # At full size the surface is evaluated term by term, by broadcasting a column of v
    # against a row of u: no [h x w, 6] matrix of terms.
    c = tf.reshape(coefficients, [6])
    shape = tf.shape(grey)
    v, u = _spaced(shape[0]), _spaced(shape[1])
    down = c[0] + c[2] * v + c[4] * v * v
    across = c[1] * u + c[3] * u * u
    return _column(down) + _row(across) + c[5] * _column(v) * _row(u)


def polarity_dark_ink(grey: tf.Tensor) -> tf.Tensor:
    """True when the ink is darker than the background.

    The background is most of the picture, so the median (against the illumination,
    ``illumination``) is a background level; the ink is the extreme farther from it. A
    3x3 mean first, so a single dust speck is no extreme.
    """
    residual = smooth(grey) - illumination(grey)
    median = 2.0 * percentile((residual + 256.0) / 2.0, 0.5) - 256.0
    return (median - tf.reduce_min(residual)) >= (tf.reduce_max(residual) - median)


def remove_background(grey: tf.Tensor, dark_ink: tf.Tensor) -> tf.Tensor:
    """Ink strength [h, w] >= 0 with the background (light, shadows) taken away.

    Ink is made bright, then the background is estimated as a grey-level opening on a
    coarse grid: the minimum of each block (ink is thinner than a block), then a 3x3
    minimum and maximum over blocks (strokes wider than one block), a 3x3 mean, and back
    to full size. The ink is what stands above it.
    """
    bright = tf.where(dark_ink, 255.0 - grey, grey)
    # Blocks follow the shorter side, so a wide strip (a row of digits) gets a window of
    # 40% of its height, not of its width: a vignette across it is background.
    block = tf.clip_by_value(tf.reduce_min(tf.shape(bright)) // BLOCKS_PER_SHORT_SIDE, 4, BLOCK)
    grid = block_min(bright, block)
    grid = smooth(dilate(dilate(erode(erode(grid)))))
    return tf.nn.relu(bright - resize_bilinear(grid, tf.shape(bright)))


def ink_threshold(ink: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(threshold, peak, noise floor): ink is what exceeds max(0.3 x peak, the floor), the
    floor being 4 MAD sigmas above the median of the ink map."""
    peak = tf.reduce_max(smooth(ink))
    median = percentile(ink, 0.5)
    floor = median + NOISE_SIGMAS * 1.4826 * percentile(tf.abs(ink - median), 0.5)
    return tf.maximum(PEAK_FRACTION * peak, floor), peak, floor


# --- connected components --------------------------------------------------------------


def long_runs(mask: tf.Tensor, fraction: float) -> tf.Tensor:
    """float [h, w], 1 at ink (``mask``: float, 1 or 0) in unbroken horizontal or vertical
    runs of at least ``fraction`` of the side.

    A shadow band or a page edge runs along the whole image; a digit's stroke spans at
    most 71% of a side even in MNIST's own tight 20-in-28 framing.
    """

    def along_rows(m: tf.Tensor) -> tf.Tensor:
        # A pixel is in a run of at least n ink pixels if and only if some window of n
        # pixels holding it is all ink: two cumulative sums, no labelling of runs.
        width = tf.shape(m)[1]
        n = tf.cast(tf.math.ceil(fraction * tf.cast(width, tf.float32)), tf.int32)
        n = tf.clip_by_value(n, 1, width)
        total = tf.pad(tf.cumsum(m, axis=1), [[0, 0], [1, 0]])  # [h, w + 1]
        start = tf.range(width - n + 1)
        window = tf.gather(total, start + n, axis=1) - tf.gather(total, start, axis=1)
        full = tf.pad(
            tf.cumsum(tf.cast(window >= tf.cast(n, tf.float32), tf.float32), 1), [[0, 0], [1, 0]]
        )
        j = tf.range(width)
        first, last = tf.maximum(j - n + 1, 0), tf.minimum(j, width - n)  # windows holding j
        covering = tf.gather(full, last + 1, axis=1) - tf.gather(full, first, axis=1)
        return m * tf.minimum(covering, 1.0)

    return tf.maximum(along_rows(mask), tf.transpose(along_rows(tf.transpose(mask))))


_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def label_points(points: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """int32 [n]: for ink cells at ``points`` (int32 [n, 2], row-major order) on a grid of
    ``shape``, the index of the last cell of their 8-connected component.

    Ink is sparse, so the cells are a list: an index map gives each its 8 neighbours once.
    Every cell starts labelled with its own index. Each round takes the largest label
    among the neighbours, spreads it along horizontal runs (consecutive in row-major
    order), then jumps to the label held by the cell its label names (same component,
    label at least as large). Labels only grow, so the loop ends, every component
    labelled by its largest index; a digit takes a handful of rounds.
    """
    n = tf.shape(points)[0]
    index_map = tf.pad(tf.scatter_nd(points, tf.range(1, n + 1), shape), [[1, 1], [1, 1]])
    neighbours = (
        tf.stack(
            [tf.gather_nd(index_map, points + [1 + dy, 1 + dx]) for dy, dx in _NEIGHBOURS], axis=1
        )
        - 1
    )  # [n, 8], -1 where no ink
    present = neighbours >= 0
    neighbours = tf.maximum(neighbours, 0)
    follows = tf.reduce_all(points[1:] == points[:-1] + [0, 1], axis=1)  # same row, next column
    run = tf.cumsum(tf.cast(tf.concat([[True], ~follows], 0), tf.int32)) - 1  # sorted run ids

    def step(labels: tf.Tensor, _: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        around = tf.where(present, tf.gather(labels, neighbours), -1)
        new = tf.maximum(labels, tf.reduce_max(around, axis=1))
        new = tf.gather(tf.math.unsorted_segment_max(new, run, n), run)  # n >= runs
        new = tf.gather(new, new)
        return new, tf.reduce_any(tf.not_equal(new, labels))

    labels, _ = tf.while_loop(
        lambda _, changed: changed, step, (tf.range(n), n > 0), maximum_iterations=10_000
    )
    return labels


class Components(tf.experimental.ExtensionType):
    """Per-component statistics; row 0.. are the components (background excluded)."""

    labels: tf.Tensor  # int32 [h, w] pixel labels, 0 for background
    ids: tf.Tensor  # int32 [n] label of each component
    area: tf.Tensor  # float32 [n] pixels
    box: tf.Tensor  # int32 [n, 4] ymin, xmin, ymax, xmax (inclusive)
    border: tf.Tensor  # bool [n] touches the image's edge


def components(mask: tf.Tensor) -> Components:
    """Labels and statistics of the ink's components, found on a 2x coarser grid.

    Labelling is the costliest step; at half resolution it is 4x cheaper and only joins
    pieces less than two work pixels apart. Ink in long runs along the image (``long_runs``)
    and a cell around it is peeled off first. Labels come back at full work size, each
    pixel keeping its coarse cell's label where it is ink.
    """
    shape = tf.shape(mask)
    pad = shape % 2
    ink = tf.pad(tf.cast(mask, tf.float32), [[0, pad[0]], [0, pad[1]]])
    half = (shape + pad) // 2
    coarse = tf.reduce_max(tf.reshape(ink, [half[0], 2, half[1], 2]), axis=[1, 3])
    edges = dilate(long_runs(coarse, LONG_RUN))  # shadows, page edges
    points = tf.cast(tf.where(coarse * (1.0 - edges) > 0), tf.int32)
    ids, segment = tf.unique(label_points(points, half) + 1)
    n = _count(ids)
    ys, xs = points[:, 0], points[:, 1]
    edge = (ys == 0) | (xs == 0) | (ys == half[0] - 1) | (xs == half[1] - 1)
    area = 4.0 * tf.math.unsorted_segment_sum(tf.ones_like(ys, tf.float32), segment, n)
    box = tf.stack(
        [
            2 * tf.math.unsorted_segment_min(ys, segment, n),
            2 * tf.math.unsorted_segment_min(xs, segment, n),
            tf.minimum(2 * tf.math.unsorted_segment_max(ys, segment, n) + 1, shape[0] - 1),
            tf.minimum(2 * tf.math.unsorted_segment_max(xs, segment, n) + 1, shape[1] - 1),
        ],
        axis=1,
    )
    border = tf.math.unsorted_segment_max(tf.cast(edge, tf.int32), segment, n) > 0
    labels = tf.scatter_nd(points, tf.gather(ids, segment), half)
    fine = tf.gather(tf.gather(labels, tf.range(shape[0]) // 2), tf.range(shape[1]) // 2, axis=1)
    fine = fine * tf.cast(mask, tf.int32)
    return Components(labels=fine, ids=ids, area=area, box=box, border=border)


# --- picking the digit -----------------------------------------------------------------


def _select(found: Components, keep: tf.Tensor) -> Components:
    """The components where ``keep``: one index gathered from each statistic
    (tf.boolean_mask builds its reshapes and index again for each, ~20 ops apiece)."""
    rows = tf.where(keep)[:, 0]
    return Components(
        labels=found.labels,
        ids=tf.gather(found.ids, rows),
        area=tf.gather(found.area, rows),
        box=tf.gather(found.box, rows),
        border=tf.gather(found.border, rows),
    )


def _encloses(outer: tf.Tensor, inner: tf.Tensor) -> tf.Tensor:
    """bool [n, n]: box i strictly contains box j (all four sides inside)."""
    o, i = tf.expand_dims(outer, 1), tf.expand_dims(inner, 0)
    return (
        (o[:, :, 0] < i[:, :, 0])
        & (o[:, :, 1] < i[:, :, 1])
        & (o[:, :, 2] > i[:, :, 2])
        & (o[:, :, 3] > i[:, :, 3])
    )


def edge_marks(found: Components, shape: tf.Tensor) -> tf.Tensor:
    """bool [n]: thin components along an edge they touch, for half its length or more.

    Shadows, page edges and frames hug an edge; a digit that reaches the edge (a drawing
    that ran off the canvas, a tight crop) touches it over a short stretch, or reaches
    far into the picture.
    """
    height, width = tf.cast(shape[0] - 1, tf.float32), tf.cast(shape[1] - 1, tf.float32)
    box = found.box
    across = tf.cast(box[:, 3] - box[:, 1], tf.float32) / width
    down = tf.cast(box[:, 2] - box[:, 0], tf.float32) / height
    top_or_bottom = (box[:, 0] == 0) | (box[:, 2] == shape[0] - 1)
    left_or_right = (box[:, 1] == 0) | (box[:, 3] == shape[1] - 1)
    return (top_or_bottom & (across >= EDGE_ALONG) & (down <= EDGE_THIN)) | (
        left_or_right & (down >= EDGE_ALONG) & (across <= EDGE_THIN)
    )


def ruled_lines(found: Components, shape: tf.Tensor) -> tf.Tensor:
    """bool [n]: straight thin lines across most of the image — the sides of a frame
    drawn around a number, a ruled line — whose long runs were not peeled off whole."""
    box = tf.cast(found.box, tf.float32)
    height, width = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    side = tf.cast(shape, tf.float32)
    upright = (height >= LINE_SPAN * side[0]) & (width <= LINE_THIN * height)
    level = (width >= LINE_SPAN * side[1]) & (height <= LINE_THIN * width)
    return upright | level


def pick(found: Components) -> Components:
    """The components that make up writing: no edge marks, specks or frames.

    Edge marks (``edge_marks``) and ``ruled_lines`` go, unless nothing else of 5% of their
    size is there (a "1" written along the edge looks like one), and so do pieces cut by
    the edge that are less than half the largest component inside. Specks are smaller
    than SPECK of the largest remaining component. A component whose box strictly
    contains another's is a frame drawn around the writing.
    """
    shape = tf.shape(found.labels)
    junk = edge_marks(found, shape) | ruled_lines(found, shape)
    # Writing must be more than dust beside the edge marks to count as "something else".
    enough = tf.maximum(4.0, WRITING_BESIDE_MARKS * tf.reduce_max(tf.where(junk, found.area, 0.0)))
    has_writing = tf.reduce_any(~junk & (found.area >= enough))
    # Beside writing away from the edges, small pieces cut by an edge are corners of
    # vignetting or the next word, not a digit.
    inner = tf.reduce_max(tf.where(found.border, 0.0, found.area))
    cut = found.border & (found.area < EDGE_CUT * inner)
    candidate = tf.where(has_writing, ~junk & ~cut, tf.ones_like(junk))
    largest = tf.reduce_max(tf.where(candidate, found.area, 0.0))
    found = _select(found, candidate & (found.area >= SPECK * largest) & (found.area >= 2.0))
    frame = tf.reduce_any(_encloses(found.box, found.box), axis=1)
    return _select(found, ~frame | tf.reduce_all(frame))


def near_largest(found: Components) -> Components:
    """The largest component and those close to it: one digit, not stray marks around it."""
    largest = _argmax_nonempty(found.area)
    box = tf.cast(found.box, tf.float32)
    main = tf.gather(box, largest)
    reach = NEAR * tf.maximum(main[2] - main[0], main[3] - main[1]) + 2.0
    gap_y = tf.maximum(0.0, tf.maximum(box[:, 0] - main[2], main[0] - box[:, 2]))
    gap_x = tf.maximum(0.0, tf.maximum(box[:, 1] - main[3], main[1] - box[:, 3]))
    return _select(found, tf.maximum(gap_y, gap_x) <= reach)


def group_columns(found: Components) -> tuple[tf.Tensor, tf.Tensor]:
    """(group of each component [n], number of groups): digits of a row, left to right.

    Components at least 45% as tall as the tallest are digits or their main strokes:
    sorted by left edge, one starts a new group unless it overlaps the group so far (a
    running maximum of right edges) by half the narrower one's width. Shorter pieces are
    fragments — a "5"'s detached top bar, the arm of an open "4" — and join the group
    nearest them horizontally (the most overlapped, else the closest).
    """
    box = found.box
    height = tf.cast(box[:, 2] - box[:, 0] + 1, tf.float32)
    tall = height >= TALL * tf.reduce_max(height)
    index = tf.cast(tf.where(tall)[:, 0], tf.int32)
    left, right = tf.gather(box[:, 1], index), tf.gather(box[:, 3], index)
    order = tf.argsort(left, stable=True)
    left_sorted, right_sorted = tf.gather(left, order), tf.gather(right, order)
    width = tf.cast(right_sorted - left_sorted + 1, tf.float32)
    reach = cumulative_max(right_sorted)  # the rightmost edge of components 0..i
    overlap = tf.cast(reach[:-1] - left_sorted[1:] + 1, tf.float32)
    narrower = tf.minimum(width[1:], width[:-1])
    starts = tf.concat([[True], overlap < SAME_DIGIT * narrower], 0)
    group_sorted = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    count = tf.reduce_max(group_sorted) + 1
    tall_group = tf.scatter_nd(_column(order), group_sorted, tf.shape(order))
    span_left = tf.math.unsorted_segment_min(left, tall_group, count)
    span_right = tf.math.unsorted_segment_max(right, tall_group, count)
    # Gap between each component and each group's span; negative = overlap.
    gap = tf.maximum(_row(span_left), box[:, 1:2]) - tf.minimum(_row(span_right), box[:, 3:4])
    nearest = _argmax_nonempty(-tf.cast(gap, tf.float32), axis=1)  # the nearest group
    placed = tf.scatter_nd(_column(index), tall_group, tf.shape(tall))
    return tf.where(tall, placed, nearest), count


# --- to MNIST --------------------------------------------------------------------------


def to_mnist(ink: tf.Tensor, member: tf.Tensor) -> tf.Tensor:
    """uint8 [28, 28]: the ink where ``member`` (float [h, w], 1 or 0), as MNIST draws a
    digit. Everything happens inside the members' box: no member lies outside it, so
    dilating there is dilating everywhere, at a fraction of the work."""
    rows = tf.cast(tf.where(tf.reduce_max(member, 1) > 0)[:, 0], tf.int32)
    cols = tf.cast(tf.where(tf.reduce_max(member, 0) > 0)[:, 0], tf.int32)
    top, bottom = tf.reduce_min(rows), tf.reduce_max(rows)
    left, right = tf.reduce_min(cols), tf.reduce_max(cols)
    height, width = bottom - top + 1, right - left + 1
    corner, extent = tf.stack([top, left]), tf.stack([height, width])
    inside, ink = tf.slice(member, corner, extent), tf.slice(ink, corner, extent)
    near = inside
    for _ in range(MARGIN):  # the strokes' soft edges, below the threshold
        near = dilate(near)
    high = percentile(tf.boolean_mask(ink, inside > 0), 0.9)
    crop = tf.clip_by_value(ink * near / tf.maximum(high, 1e-3), 0.0, 1.0)

    scale = BOX / tf.cast(tf.maximum(height, width), tf.float32)
    crop = thicken(crop, inside, scale)
    size = tf.maximum(tf.cast(tf.round(tf.cast(extent, tf.float32) * scale), tf.int32), 1)
    small = resize_antialiased(crop, size)
    small = tf.clip_by_value(small / tf.maximum(tf.reduce_max(small), 1e-3), 0.0, 1.0) * 255.0

    # The centre of mass goes to MNIST's: pixel index CENTRE of the 28x28 field.
    mass = tf.maximum(tf.reduce_sum(small), 1e-3)
    ys = tf.cast(tf.range(size[0]), tf.float32)
    xs = tf.cast(tf.range(size[1]), tf.float32)
    cy = tf.reduce_sum(small * _column(ys)) / mass
    cx = tf.reduce_sum(small * _row(xs)) / mass
    offset_y = tf.clip_by_value(tf.cast(tf.round(CENTRE - cy), tf.int32), 0, SIZE - size[0])
    offset_x = tf.clip_by_value(tf.cast(tf.round(CENTRE - cx), tf.int32), 0, SIZE - size[1])
    pad = tf.stack([[offset_y, SIZE - size[0] - offset_y], [offset_x, SIZE - size[1] - offset_x]])
    field = tf.reshape(tf.pad(small, pad), [SIZE, SIZE])
    return tf.cast(tf.round(field), tf.uint8)


def thicken(crop: tf.Tensor, member: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Strokes that would be thinner than STROKE pixels in the 20x20 box, made wider.

    MNIST's strokes are 2-3 pixels wide at that size; a fine pen, or a digit that is
    small in the work image (one of eight in a row), would reach the model as a hairline.
    Stroke width ~ area / half the perimeter; each 3x3 dilation adds two work pixels.
    """
    area = tf.reduce_sum(member)
    edge = tf.reduce_sum(member * (1.0 - erode(member)))  # members with a non-member around
    stroke = 2.0 * area / tf.maximum(edge, 1.0) * scale  # in 20x20-box pixels
    times = tf.cast(
        tf.clip_by_value(tf.round((STROKE - stroke) / (2.0 * scale)), 0.0, 8.0), tf.int32
    )
    return tf.while_loop(lambda i, _: i < times, lambda i, x: (i + 1, dilate(x)), (0, crop))[1]


# --- the shared core: grey image in, status out -----------------------------------------


class Writing(tf.experimental.ExtensionType):
    """What ``find_writing`` returns: the ink map and the components that are writing."""

    ink: tf.Tensor  # float32 [h, w] at work size
    found: Components
    status: tf.Tensor  # int32: FOUND, BLANK, NOISE or NO_WRITING


def find_writing(grey: tf.Tensor) -> Writing:
    """Work image -> the ink and the picked components, and whether there are any."""
    ink = remove_background(grey, polarity_dark_ink(grey))
    threshold, peak, floor = ink_threshold(ink)
    found = pick(components(ink > threshold))
    status = tf.where(_count(found.ids) > 0, FOUND, NO_WRITING)
    status = tf.where(peak < STANDS_OUT * floor, NOISE, status)
    status = tf.where(peak < MIN_CONTRAST, BLANK, status)
    return Writing(ink=ink, found=found, status=status)


def _member(found: Components, keep: tf.Tensor) -> tf.Tensor:
    """float [h, w], 1 at pixels of the components where ``keep``, else 0 (a lookup by
    label: a float map, since TF Lite's boolean kernels are slow on whole images)."""
    kept = tf.scatter_nd(
        _column(found.ids),
        tf.cast(keep, tf.float32),
        tf.reshape(tf.reduce_max(found.labels) + 1, [1]),
    )
    return tf.gather(kept, found.labels)


def mnist_form(grey: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
    """bool: the top-left ``extent`` of ``grey`` is 28x28 and already an MNIST digit
    (see MNIST_BACKGROUND..MNIST_BOX), so ``read_digit`` hands it on unchanged.

    A client that sends MNIST's own digits as PNGs gets what ``serving_default`` would
    answer, in a tenth of the time the finder takes on a 320-px copy of 28 pixels.
    """

    def check() -> tf.Tensor:
        x = grey[:SIZE, :SIZE]
        inked = tf.cast(x > 0.0, tf.float32)
        rows, cols = tf.reduce_max(inked, axis=1), tf.reduce_max(inked, axis=0)
        index = tf.range(SIZE, dtype=tf.float32)
        # first and last inked row/column, as the span of the inked indices
        height = tf.reduce_max(rows * index) - tf.reduce_min(rows * index + (1 - rows) * SIZE)
        width = tf.reduce_max(cols * index) - tf.reduce_min(cols * index + (1 - cols) * SIZE)
        side = tf.maximum(height, width) + 1.0
        mass = tf.maximum(tf.reduce_sum(x), 1.0)
        centre_y = tf.reduce_sum(tf.reduce_sum(x, axis=1) * index) / mass
        centre_x = tf.reduce_sum(tf.reduce_sum(x, axis=0) * index) / mass
        return (
            (tf.reduce_mean(1.0 - inked) >= MNIST_BACKGROUND)
            & (tf.reduce_max(x) >= MNIST_PEAK)
            & (side >= MNIST_BOX[0])
            & (side <= MNIST_BOX[1])
            & (tf.abs(centre_y - CENTRE) <= 0.5)
            & (tf.abs(centre_x - CENTRE) <= 0.5)
        )

    is_28 = tf.reduce_all(tf.equal(extent, SIZE)) & tf.reduce_all(tf.shape(grey) >= SIZE)
    return tf.cond(is_28, check, lambda: tf.constant(False))


def read_digit(grey: tf.Tensor, extent: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Grey image (its top-left ``extent``, default all) -> (uint8 [28, 28] MNIST-style
    digit, int32 status). The digit is zeros unless status is FOUND."""
    extent = tf.shape(grey) if extent is None else extent
    # The negative of an MNIST digit is one inverted, not re-found: the finder would frame
    # it again, moved (docs/serving.md, "What an image request costs").
    # Sliced first: nothing here touches a large image's pixels. Rounded first: a reader
    # given RGB makes white 254.99998 in float32, and the negative's paper must be 0.
    top_left = grey[:SIZE, :SIZE]
    negative = 255.0 - tf.round(top_left)

    def found(digit: tf.Tensor):
        return lambda: (tf.cast(tf.round(digit), tf.uint8), tf.constant(FOUND))

    return tf.cond(
        mnist_form(grey, extent),
        found(top_left),
        lambda: tf.cond(
            mnist_form(negative, extent), found(negative), lambda: _find_digit(grey, extent)
        ),
    )


def _find_digit(grey: tf.Tensor, extent: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``read_digit`` for anything not already in MNIST's form: the finder's steps."""

    def read() -> tuple[tf.Tensor, tf.Tensor]:
        writing = find_writing(work_image(grey, extent))

        def digit() -> tf.Tensor:  # only on components: nothing here runs on none
            near = near_largest(writing.found)
            return to_mnist(writing.ink, _member(near, tf.ones_like(near.ids, tf.bool)))

        blank = lambda: tf.zeros([SIZE, SIZE], tf.uint8)
        return tf.cond(tf.equal(writing.status, FOUND), digit, blank), writing.status

    return _if_readable(extent, read, (tf.zeros([SIZE, SIZE], tf.uint8),))


def _if_readable(extent: tf.Tensor, read, empty: tuple) -> tuple:
    """``read()`` if an image of ``extent`` makes a readable work image (its shorter side
    at least BLOCK, for the background's blocks), else ``empty`` + BAD_SIZE."""
    shape = tf.cast(extent, tf.float32)
    short = tf.round(tf.reduce_min(shape) * WORK_SIDE / tf.reduce_max(shape))
    return tf.cond(short >= BLOCK, read, lambda: (*empty, tf.constant(BAD_SIZE)))


def read_number(
    grey: tf.Tensor, extent: tf.Tensor | None = None, side: tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Grey image (its top-left ``extent``, default all) -> (uint8 [MAX_DIGITS, 28, 28],
    int32 boxes [MAX_DIGITS, 4], count, status).

    Boxes are ymin, xmin, ymax, xmax in the pixels of an image whose longer side is
    ``side`` (default: the extent's; a JPEG decoded shrunk passes its own), TF's box order,
    left to right. Rows past ``count`` are zeros, and so is everything unless status is
    FOUND (TOO_MANY: ``count`` says how many were seen).
    """
    empty = (
        tf.zeros([MAX_DIGITS, SIZE, SIZE], tf.uint8),
        tf.zeros([MAX_DIGITS, 4], tf.int32),
        tf.constant(0),
    )
    extent = tf.shape(grey) if extent is None else extent
    side = tf.reduce_max(extent) if side is None else side

    def read() -> tuple:
        work = work_image(grey, extent)
        writing = find_writing(work)
        scale = WORK_SIDE / tf.cast(side, tf.float32)  # work pixels per image pixel
        return tf.cond(
            tf.equal(writing.status, FOUND),
            lambda: _read_groups(writing, scale),
            lambda: (*empty, writing.status),
        )

    return _if_readable(extent, read, empty)


def _read_groups(writing: Writing, scale: tf.Tensor) -> tuple:
    """The digits of ``writing``, grouped left to right (see ``read_number``)."""
    found = writing.found
    group, count = group_columns(found)
    status = tf.where(count <= MAX_DIGITS, FOUND, TOO_MANY)
    shown = tf.where(count <= MAX_DIGITS, count, 0)

    def add(g: tf.Tensor, digits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        digit = tf.cast(to_mnist(writing.ink, _member(found, tf.equal(group, g))), tf.float32)
        place = tf.reshape(tf.one_hot(g, MAX_DIGITS), [MAX_DIGITS, 1, 1])
        return g + 1, digits + place * digit

    # A loop that adds each digit at its place: tf.map_fn would need TensorList ops.
    _, digits = tf.while_loop(
        lambda g, _: g < shown, add, (tf.constant(0), tf.zeros([MAX_DIGITS, SIZE, SIZE]))
    )
    # Segment ids past num_segments are an error in TF Lite (TF drops them): with more
    # than MAX_DIGITS groups (TOO_MANY), count them all, then keep MAX_DIGITS.
    segments = tf.maximum(count, MAX_DIGITS)
    corners = [
        tf.math.unsorted_segment_min(found.box[:, 0], group, segments)[:MAX_DIGITS],
        tf.math.unsorted_segment_min(found.box[:, 1], group, segments)[:MAX_DIGITS],
        tf.math.unsorted_segment_max(found.box[:, 2], group, segments)[:MAX_DIGITS],
        tf.math.unsorted_segment_max(found.box[:, 3], group, segments)[:MAX_DIGITS],
    ]
    box = tf.cast(tf.round(tf.cast(tf.stack(corners, axis=1), tf.float32) / scale), tf.int32)
    present = _column(tf.range(MAX_DIGITS) < shown)
    box = tf.where(present, box, 0)
    return tf.cast(tf.round(digits), tf.uint8), box, count, status


# --- the SavedModel's entry points: encoded bytes in, InvalidArgument on failure ----------


def find_digit(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded image (scalar string) -> uint8 [28, 28]: the digit in it, MNIST-style."""
    grey, _ = decode_grey(encoded)
    digit, status = read_digit(grey)
    with tf.control_dependencies([_raise_unless_found(status)]):
        return tf.identity(digit)


def find_number(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Encoded image -> (uint8 [MAX_DIGITS, 28, 28], int32 boxes [MAX_DIGITS, 4], count).

    Boxes are ymin, xmin, ymax, xmax in the original image's pixels, left to right; rows
    past ``count`` are zeros.
    """
    grey, size = decode_grey(encoded)
    digits, boxes, count, status = read_number(grey, side=tf.reduce_max(size))
    with tf.control_dependencies([_raise_unless_found(status, count)]):
        return tf.identity(digits), tf.identity(boxes), tf.identity(count)
