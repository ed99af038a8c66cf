"""The finder's stages in order: a grey image in, MNIST-framed digit(s) and a status out.

``read_digit`` and ``read_number`` are the shared core of the SavedModel's signatures and
reader.tflite: they never raise, returning a ``status`` (FOUND, or why not: REASONS) and
zeros. ``find_digit`` and ``find_number``, the SavedModel's entry points, take encoded
bytes and turn a status other than FOUND into an InvalidArgumentError
(``refusals.raise_unless_found``).
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.contract import (
    BAD_SIZE,
    BLANK,
    FOUND,
    MAX_DIGITS,
    NO_WRITING,
    NOISE,
    SIZE,
    TOO_MANY,
)
from mnist_convnet.finder import ops
from mnist_convnet.finder.background import (
    BLOCK,
    MIN_CONTRAST,
    STANDS_OUT,
    ink_threshold,
    polarity_dark_ink,
    remove_background,
)
from mnist_convnet.finder.components import Components, components
from mnist_convnet.finder.decode import WORK_SIDE, decode_grey, work_image
from mnist_convnet.finder.framing import mnist_form, to_mnist
from mnist_convnet.finder.pick import group_columns, near_largest, pixels_of, writing_only
from mnist_convnet.finder.refusals import raise_unless_found


class FoundWriting(tf.experimental.ExtensionType):
    """What ``find_writing`` returns: the ink map and the components that are writing."""

    ink: tf.Tensor  # float32 [h, w] at work size
    found: Components
    status: tf.Tensor  # int32: FOUND, BLANK, NOISE or NO_WRITING


def find_writing(grey: tf.Tensor) -> FoundWriting:
    """Work image -> the ink and the picked components, and whether there are any."""
    ink = remove_background(grey, polarity_dark_ink(grey))
    threshold, peak, floor = ink_threshold(ink)
    found = writing_only(components(ink > threshold))
    status = tf.where(ops.count_of(found.ids) > 0, FOUND, NO_WRITING)
    status = tf.where(peak < STANDS_OUT * floor, NOISE, status)
    status = tf.where(peak < MIN_CONTRAST, BLANK, status)
    return FoundWriting(ink=ink, found=found, status=status)


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
            return to_mnist(writing.ink, pixels_of(near, tf.ones_like(near.ids, tf.bool)))

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


def _read_groups(writing: FoundWriting, scale: tf.Tensor) -> tuple:
    """The digits of ``writing``, grouped left to right (see ``read_number``)."""
    found = writing.found
    group, count = group_columns(found)
    status = tf.where(count <= MAX_DIGITS, FOUND, TOO_MANY)
    shown = tf.where(count <= MAX_DIGITS, count, 0)

    def add(g: tf.Tensor, digits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        digit = tf.cast(to_mnist(writing.ink, pixels_of(found, tf.equal(group, g))), tf.float32)
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
    present = ops.column(tf.range(MAX_DIGITS) < shown)
    box = tf.where(present, box, 0)
    return tf.cast(tf.round(digits), tf.uint8), box, count, status


# --- the SavedModel's entry points: encoded bytes in, InvalidArgument on failure ----------


def find_digit(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded image (scalar string) -> uint8 [28, 28]: the digit in it, MNIST-style."""
    grey, _ = decode_grey(encoded)
    digit, status = read_digit(grey)
    with tf.control_dependencies([raise_unless_found(status)]):
        return tf.identity(digit)


def find_number(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Encoded image -> (uint8 [MAX_DIGITS, 28, 28], int32 boxes [MAX_DIGITS, 4], count).

    Boxes are ymin, xmin, ymax, xmax in the original image's pixels, left to right; rows
    past ``count`` are zeros.
    """
    grey, size = decode_grey(encoded)
    digits, boxes, count, status = read_number(grey, side=tf.reduce_max(size))
    with tf.control_dependencies([raise_unless_found(status, count)]):
        return tf.identity(digits), tf.identity(boxes), tf.identity(count)
