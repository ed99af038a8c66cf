"""Stage 3, ink: polarity, illumination, background, threshold.

Dark ink on light paper or light on dark: which extreme is farther from the median,
measured against a fitted illumination surface. Ink = |image - local background|, the
background a grey-level opening on a coarse grid, so a lamp or a shadow is background,
not ink. Ink is what exceeds max(0.3 x peak, 4 x noise), the noise the background's MAD.

Tuned numbers, each with the row of docs/captures.md ("Where each of the finder's tuned
numbers came from") that set it; "first version" means no later row moved it.
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.finder import ops

BLOCK = 20  # background blocks are at most BLOCK x BLOCK work pixels (first version)
BLOCKS_PER_SHORT_SIDE = 12  # blocks follow the shorter side (row "numbers, photo 83-89%")
RIDGE = 1e-3  # l2 regulariser of the illumination fit (row "phone photo")
MIN_CONTRAST = 12.0  # grey levels between ink and background, below: no ink (first version)
PEAK_FRACTION = 0.3  # ink is above this fraction of the peak ... (first version)
NOISE_SIGMAS = 4.0  # ... and this many noise sigmas above the median (first version)
STANDS_OUT = 1.6  # writing peaks at least this far above that noise floor; noise does not
#                   (row "frames of noise": >= 2.27 on every capture, <= 1.17 on noise)


def _surface_terms(rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """[rows x cols, 6]: 1, u, v, u², v², uv on a grid over [-1, 1]²."""
    v = tf.reshape(ops.column(ops.spaced(rows)) + tf.zeros([1, cols]), [-1])
    u = tf.reshape(ops.row(ops.spaced(cols)) + tf.zeros([rows, 1]), [-1])
    return tf.stack([tf.ones_like(u), u, v, u * u, v * v, u * v], axis=1)


def illumination(grey: tf.Tensor) -> tf.Tensor:
    """[h, w]: a quadratic surface least-squares-fitted to the BLOCK means of ``grey``.

    A lamp to one side, a vignette, a hot spot are low-order: the surface follows them.
    A digit is small, sharp detail: it barely moves the fit. The ridge-regularised
    normal equations (what ``tf.linalg.lstsq`` solves) are 6x6: ``solve_spd``.
    """
    means = ops.blocks(grey, BLOCK, tf.reduce_mean)
    grid = tf.shape(means)
    terms = _surface_terms(grid[0], grid[1])
    normal = tf.matmul(terms, terms, transpose_a=True) + RIDGE * tf.eye(6)
    coefficients = ops.solve_spd(
        normal, tf.matmul(terms, tf.reshape(means, [-1, 1]), transpose_a=True)
    )
    # At full size the surface is evaluated term by term, by broadcasting a column of v
    # against a row of u: no [h x w, 6] matrix of terms.
    c = tf.reshape(coefficients, [6])
    shape = tf.shape(grey)
    v, u = ops.spaced(shape[0]), ops.spaced(shape[1])
    down = c[0] + c[2] * v + c[4] * v * v
    across = c[1] * u + c[3] * u * u
    return ops.column(down) + ops.row(across) + c[5] * ops.column(v) * ops.row(u)


def polarity_dark_ink(grey: tf.Tensor) -> tf.Tensor:
    """True when the ink is darker than the background.

    The background is most of the picture, so the median (against the illumination,
    ``illumination``) is a background level; the ink is the extreme farther from it. A
    3x3 mean first, so a single dust speck is no extreme.
    """
    residual = ops.smooth(grey) - illumination(grey)
    median = 2.0 * ops.percentile((residual + 256.0) / 2.0, 0.5) - 256.0
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
    grid = ops.block_min(bright, block)
    grid = ops.smooth(ops.dilate(ops.dilate(ops.erode(ops.erode(grid)))))
    return tf.nn.relu(bright - ops.resize_bilinear(grid, tf.shape(bright)))


def ink_threshold(ink: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(threshold, peak, noise floor): ink is what exceeds max(0.3 x peak, the floor), the
    floor being 4 MAD sigmas above the median of the ink map."""
    peak = tf.reduce_max(ops.smooth(ink))
    median = ops.percentile(ink, 0.5)
    floor = median + NOISE_SIGMAS * 1.4826 * ops.percentile(tf.abs(ink - median), 0.5)
    return tf.maximum(PEAK_FRACTION * peak, floor), peak, floor
