"""Stage 6, to MNIST: found ink framed as MNIST frames its digits.

crop -> ink levels stretched to 0..255 -> hairlines thickened -> fitted into 20x20
keeping the aspect ratio -> pasted into 28x28 with the centre of mass at MNIST's (14, 14).
An image that already is an MNIST digit (``mnist_form``) is left as it is.
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.contract import SIZE
from mnist_convnet.finder import ops

BOX = 20  # MNIST fits each digit into BOX x BOX inside SIZE x SIZE, its centre of mass at
CENTRE = 14.0  # pixel index CENTRE: measured over MNIST's test set (row "everything": 13.5
#                was a one-pixel shift)
# What every one of MNIST's 10,000 test digits has (row "Already MNIST"): at
# least 60% of pixels exactly 0, a peak of 254-255, the inked box's longer side 19-20 px,
# the centre of mass within half a pixel of CENTRE. An image with all four is read as it is.
MNIST_BACKGROUND = 0.5  # fraction of exact zeros, at least
MNIST_PEAK = 250.0
MNIST_BOX = (19, 20)
MARGIN = 1  # work pixels around the thresholded ink kept as the strokes' soft edges
#             (first version)
STROKE = 2.0  # thinnest stroke, in pixels of the 20x20 box, handed to the model (row
#               "rows of 2-8 digits")


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
        near = ops.dilate(near)
    high = ops.percentile(tf.boolean_mask(ink, inside > 0), 0.9)
    crop = tf.clip_by_value(ink * near / tf.maximum(high, 1e-3), 0.0, 1.0)

    scale = BOX / tf.cast(tf.maximum(height, width), tf.float32)
    crop = thicken(crop, inside, scale)
    size = tf.maximum(tf.cast(tf.round(tf.cast(extent, tf.float32) * scale), tf.int32), 1)
    small = ops.resize_antialiased(crop, size)
    small = tf.clip_by_value(small / tf.maximum(tf.reduce_max(small), 1e-3), 0.0, 1.0) * 255.0

    # The centre of mass goes to MNIST's: pixel index CENTRE of the 28x28 field.
    mass = tf.maximum(tf.reduce_sum(small), 1e-3)
    ys = tf.cast(tf.range(size[0]), tf.float32)
    xs = tf.cast(tf.range(size[1]), tf.float32)
    cy = tf.reduce_sum(small * ops.column(ys)) / mass
    cx = tf.reduce_sum(small * ops.row(xs)) / mass
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
    edge = tf.reduce_sum(member * (1.0 - ops.erode(member)))  # members with a non-member around
    stroke = 2.0 * area / tf.maximum(edge, 1.0) * scale  # in 20x20-box pixels
    times = tf.cast(
        tf.clip_by_value(tf.round((STROKE - stroke) / (2.0 * scale)), 0.0, 8.0), tf.int32
    )
    return tf.while_loop(lambda i, _: i < times, lambda i, x: (i + 1, ops.dilate(x)), (0, crop))[1]


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
