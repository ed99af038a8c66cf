"""Small image operations in TF Lite's builtin ops, shared by every stage of the finder.

TF Lite's builtins lack a few ops the obvious code uses (HistogramFixedWidth,
MatrixTriangularSolve, SegmentMax, ScaleAndTranslate, StridedSlice with new axes, a fast
MIRROR_PAD or single-channel pooling); these say the same thing with ops it has, and a
test holds each against the op it replaces.
"""

from __future__ import annotations

import tensorflow as tf

# --- small builtin-only pieces ---------------------------------------------------------
# TF Lite's builtins lack a few ops the obvious code uses (HistogramFixedWidth,
# MatrixTriangularSolve, SegmentMax, ScaleAndTranslate, StridedSlice with new axes); these
# say the same thing with ops it has.


def column(x: tf.Tensor) -> tf.Tensor:
    """[n] -> [n, 1] (``x[:, None]`` is a new-axis StridedSlice, not a TF Lite builtin)."""
    return tf.expand_dims(x, 1)


def row(x: tf.Tensor) -> tf.Tensor:
    """[n] -> [1, n]."""
    return tf.expand_dims(x, 0)


def count_of(x: tf.Tensor) -> tf.Tensor:
    """int32 length of the first axis."""
    return tf.shape(x)[0]


def spaced(n: tf.Tensor) -> tf.Tensor:
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
        m = m - column(eliminate) * row(pivot)
    return m[:, n:]


def argmax_nonempty(x: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """int32 ``tf.argmax`` that a TF Lite graph can prepare on an empty axis.

    TF Lite's IF prepares both branches with the tensors at hand, so a branch that runs
    only when there are components is prepared when there are none, and ARG_MAX refuses an
    empty axis. A last entry below every value is appended: never the answer otherwise.
    """
    floor = tf.zeros_like(tf.reduce_sum(x, axis=axis, keepdims=True)) - 3.0e38
    return tf.cast(tf.argmax(tf.concat([x, floor], axis=axis), axis=axis), tf.int32)


def cumulative_max(x: tf.Tensor) -> tf.Tensor:
    """[n] -> [n]: max of x[0..i] (``tf.scan`` would need TensorList ops); n is small."""
    index = tf.range(count_of(x))
    upto = row(index) <= column(index)  # [i, j]: j <= i
    return tf.reduce_max(tf.where(upto, row(x), tf.reduce_min(x)), axis=1)


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
    frac = column(edges - low)
    at = tf.gather(total, tf.cast(low, tf.int32)) * (1.0 - frac)
    at += tf.gather(total, tf.cast(high, tf.int32)) * frac
    return (at[1:] - at[:-1]) / ratio + 128.0


def _bilinear_rows(x: tf.Tensor, out: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
    """Rows 0..extent-1 of [H, W] interpolated to ``out`` rows, half-pixel centres."""
    ratio = tf.cast(extent, tf.float32) / tf.cast(out, tf.float32)
    at = tf.maximum((tf.cast(tf.range(out), tf.float32) + 0.5) * ratio - 0.5, 0.0)
    low = tf.floor(at)
    high = tf.minimum(low + 1.0, tf.cast(extent - 1, tf.float32))
    frac = column(at - low)
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
    weights = tf.nn.relu(1.0 - tf.abs(row(source) - column(centre)) / width)
    return weights / tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1e-12)


def resize_antialiased(x: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """[H, W] -> [h, w]: ``tf.image.resize(method="bilinear", antialias=True)``, as two
    small matrix products (the crops it is used on are at most WORK_SIDE square)."""
    rows = _antialias_weights(size[0], tf.shape(x)[0])
    cols = _antialias_weights(size[1], tf.shape(x)[1])
    return tf.matmul(tf.matmul(rows, x), cols, transpose_b=True)


def _edge_pad(x: tf.Tensor) -> tf.Tensor:
    """[h, w] -> [h + 2, w + 2], the edge rows and columns repeated: ``tf.pad`` with
    mode="SYMMETRIC" by one pixel, as concatenations (TF Lite's MIRROR_PAD is many times slower)."""
    x = tf.concat([x[:1], x, x[-1:]], axis=0)
    return tf.concat([x[:, :1], x, x[:, -1:]], axis=1)


def _window3(x: tf.Tensor, combine) -> tf.Tensor:
    """3x3 neighbourhood of every pixel of [h, w] folded with ``combine`` (edges mirrored).

    Shifted slices, not tf.nn.max_pool2d: on one channel the pooling kernel is many times slower.
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


def blocks(x: tf.Tensor, block: int | tf.Tensor, reduce) -> tf.Tensor:
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
    return blocks(x, block, tf.reduce_min)


def percentile(values: tf.Tensor, q: float | tf.Tensor) -> tf.Tensor:
    """The q-quantile (0..1) of grey levels in [0, 256), to within one level.

    From a 256-bin histogram (a segment sum over each value's level): an order of
    magnitude cheaper than sorting the 100,000 floats of a work image.
    """
    level = tf.cast(tf.clip_by_value(tf.reshape(values, [-1]), 0.0, 255.0), tf.int32)  # floor
    counts = tf.math.unsorted_segment_sum(tf.ones_like(level), level, 256)
    cumulative = tf.cumsum(counts)
    wanted = tf.cast(tf.math.ceil(q * tf.cast(cumulative[-1], tf.float32)), tf.int32)
    return tf.cast(tf.argmax(cumulative >= tf.maximum(wanted, 1)), tf.float32)
