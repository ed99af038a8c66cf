"""Training-time augmentation: MNIST's digits as other hands and other scanners make them.

MNIST's writers slant little, write at one size and one pen, and are scanned well; other
writers do not. Each training batch (float32 [B, 28, 28, 1] in [0, 1]) is changed, image
by image, the ways those differ, with every random number drawn from a seed made of the
run's seed, the epoch and the batch's index, so a resumed run sees the batches an
unbroken one does:

    styled     strokes other hands add: a flag or a foot on a 1, a bar through a 7, a
               slash through a 0, the roof of a printed 4 (on every 0, 1, 4 and 7 of
               the batch, before a share of it is changed)
    affine     rotation, shear (slant), scale, a narrower or wider digit, a shift
    elastic    a smooth random displacement field: the wobble of a hand (Simard,
               Steinkraus and Platt 2003: 0.4% error on MNIST against 0.6% with affine
               distortions alone); read with the affine map in one resampling
    stroke     a thicker pen (grey dilation, 3x3) or a thinner one (erosion, blended)
    blur       a soft scan (a 3x3 Gaussian)
    low_res    written small and scanned coarsely: down to 11-15 px and back up

``strength`` scales every range and probability (0: the images unchanged; 1: the ranges
below, chosen on the validation split and the writers' tuning set: docs/captures.md).
Only TensorFlow ops, in the input pipeline: nothing of it is exported, nothing is served.
"""

from __future__ import annotations

import math

import tensorflow as tf

SIZE = 28

# At strength 1 (each a range of a uniform draw, or a probability per image).
ROTATION_DEGREES = 15.0
SHEAR = 0.35  # x += SHEAR * y: a slant of up to ~19 degrees either way
SCALE = 0.15  # 0.85-1.15
ASPECT = 0.2  # the width alone, 0.8-1.2
SHIFT_PIXELS = 2.0
ELASTIC_PIXELS = 1.2  # the displacement field's largest step
ELASTIC_GRID = 4  # the field's resolution before it is smoothed up to 28x28
P_THICK, P_THIN, P_BLUR, P_LOW_RES = 0.2, 0.2, 0.15, 0.15
SHARE = 0.5  # of each batch; the other half keeps the geometry of MNIST's writers


def augment(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor, strength: float) -> tf.Tensor:
    """A batch changed image by image; ``seed`` is int32/int64 [2] (stateless ops). The
    strokes other hands add are drawn on the 1s and 7s of the whole batch; then a share
    SHARE of the images is changed, the rest left as drawn (and not paid for: the changes
    run on the chosen images alone). So a flagged 1 is also seen as it was drawn, not
    only turned, slanted and blurred (turned, many look like MNIST's 7s)."""
    if strength <= 0:
        return images
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=9)
    images = styled(images, labels, seeds[7], strength)
    chosen = tf.random.stateless_uniform([tf.shape(images)[0]], seeds[8]) < SHARE
    which = tf.where(chosen)[:, 0]
    changed = _changed(tf.gather(images, which), seeds, strength)
    return tf.tensor_scatter_nd_update(images, which[:, None], changed)


def _changed(images: tf.Tensor, seeds: tf.Tensor, strength: float) -> tf.Tensor:
    batch = tf.shape(images)[0]
    images = _geometry(images, seeds[0], seeds[1], batch, strength)
    images = _some(seeds[2], batch, P_THICK * strength, _thicker, images)
    images = _some(seeds[3], batch, P_THIN * strength, _thinner, images)
    images = _some(seeds[4], batch, P_BLUR * strength, _blurred, images)
    low_res = lambda chosen: _low_res(chosen, seeds[5])
    images = _some(seeds[6], batch, P_LOW_RES * strength, low_res, images)
    return tf.clip_by_value(images, 0.0, 1.0)


# --- the strokes other hands add ----------------------------------------------------------
#
# MNIST's writers rarely put a flag or a foot on a 1, a bar through a 7, a slash through a
# 0 or a roof on a 4; Europeans flag their 1s and so cross their 7s, programmers slash
# their 0s, and a 4 written as it is printed is closed. Geometry cannot make those shapes:
# they are drawn onto MNIST's own digits, from where their ink begins, ends and widens.
P_FLAG, P_FOOT, P_CROSSBAR = 0.7, 0.3, 0.7  # of every batch's 1s and 7s
P_SLASH, P_CLOSED = 0.3, 0.3  # of every batch's 0s and 4s
STROKE_PIXELS = 2.2  # MNIST's strokes are 2-3 px wide
STYLED_LABELS = (0, 1, 4, 7)


def styled(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor, s: float) -> tf.Tensor:
    """A flag (the top of the ink, down to the left) on a share of the 1s, a foot (a bar
    under it) on some, a bar across the middle of a share of the 7s, a slash through a
    share of the 0s and the roof of a printed 4 on a share of the 4s. Only those digits
    are drawn on: the rest of the batch is not touched, nor paid for."""
    mine = tf.reduce_any(labels[:, None] == tf.constant(STYLED_LABELS, labels.dtype), 1)
    which = tf.where(mine)[:, 0]
    drawn = _styled(tf.gather(images, which), tf.gather(labels, which), seed, s)
    return tf.tensor_scatter_nd_update(images, which[:, None], drawn)


def _styled(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor, s: float) -> tf.Tensor:
    batch = tf.shape(images)[0]
    part = tf.random.experimental.stateless_split(seed, num=10)
    rows, cols = _extent(images, 2), _extent(images, 1)  # (first, last) with ink, [B] each
    top, bottom, height = _ink_ends(images, *rows)
    flag_x = tf.random.stateless_uniform([batch], part[0], 0.2, 0.45) * height
    flag_y = tf.random.stateless_uniform([batch], part[1], 0.15, 0.35) * height
    flag_end = top + tf.stack([flag_y, -flag_x], 1)
    half = tf.random.stateless_uniform([batch], part[2], 0.15, 0.3) * height
    across = tf.stack([tf.zeros_like(half), half], 1)
    row = top[:, 0] + tf.random.stateless_uniform([batch], part[3], 0.4, 0.6) * height
    middle = tf.stack([row, _ink_column(images, row)], 1)
    slash_start, slash_end = _slash(rows, cols, part[7])
    roof_start, roof_end = _roof(images, rows, cols)
    strokes = [  # (which images get it, where it starts, where it ends)
        (_chosen(part[4], batch, P_FLAG * s) & (labels == 1), top, flag_end),
        (_chosen(part[5], batch, P_FOOT * s) & (labels == 1), bottom - across, bottom + across),
        (_chosen(part[6], batch, P_CROSSBAR * s) & (labels == 7), middle - across, middle + across),
        (_chosen(part[8], batch, P_SLASH * s) & (labels == 0), slash_start, slash_end),
        (_chosen(part[9], batch, P_CLOSED * s) & (labels == 4), roof_start, roof_end),
    ]
    wanted, starts, ends = (tf.concat(column, 0) for column in zip(*strokes))
    # Only the wanted strokes are drawn (one _segment call), the rest are no ink: ink is
    # never negative, so the maximum with no ink leaves an image as it was.
    which = tf.where(wanted)[:, 0]
    drawn = _segment(tf.gather(starts, which), tf.gather(ends, which))
    shape = tf.cast(tf.stack([len(strokes) * batch, SIZE, SIZE, 1]), tf.int64)
    ink = tf.scatter_nd(which[:, None], drawn, shape)
    return tf.maximum(images, tf.reduce_max(tf.reshape(ink, [len(strokes), -1, SIZE, SIZE, 1]), 0))


Extent = tuple[tf.Tensor, tf.Tensor]


def _slash(rows: Extent, cols: Extent, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A slash through a 0 whose ink spans ``rows`` and ``cols`` (``_extent``): from near
    the ink's lower left corner to its upper right, starting and ending a little inside
    or outside the oval, [B, 2] each."""
    (first, last), (left, right) = rows, cols
    batch = tf.shape(first)[0]
    part = tf.random.experimental.stateless_split(seed, num=4)
    height, width = tf.maximum(last - first, 1.0), tf.maximum(right - left, 1.0)
    ends = [tf.random.stateless_uniform([batch], part[i], -0.08, 0.15) for i in range(2)]
    sides = [tf.random.stateless_uniform([batch], part[i], -0.05, 0.25) for i in (2, 3)]
    start = tf.stack([last - ends[0] * height, left + sides[0] * width], 1)
    end = tf.stack([first + ends[1] * height, right - sides[1] * width], 1)
    return start, end


def _roof(images: tf.Tensor, rows: Extent, cols: Extent) -> tuple[tf.Tensor, tf.Tensor]:
    """The roof of a printed 4: from the top of its stem (the topmost ink right of the
    ink's middle) down to the left end of its bar (the fullest row 40-85% of the way
    down), [B, 2] each. On an open 4 this closes the triangle the print has."""
    ink = images[..., 0] > 0.5  # [B, 28, 28]
    (first, last), (left, right) = rows, cols
    index = tf.range(SIZE, dtype=tf.float32)
    right_half = ink & (index[None, None, :] >= ((left + right) / 2)[:, None, None])
    stem_row = tf.reduce_min(tf.where(tf.reduce_any(right_half, 2), index, float(SIZE)), 1)
    stem_row = tf.minimum(stem_row, last)
    stem = tf.stack(
        [stem_row, _ink_column(images * tf.cast(right_half, tf.float32)[..., None], stem_row)], 1
    )
    band = (index[None, :] >= first[:, None] + 0.4 * (last - first)[:, None]) & (
        index[None, :] <= first[:, None] + 0.85 * (last - first)[:, None]
    )
    fullness = tf.where(band, tf.reduce_sum(tf.cast(ink, tf.float32), 2), -1.0)
    bar_row = tf.argmax(fullness, 1, output_type=tf.int32)
    bar_ink = tf.gather(ink, bar_row, axis=1, batch_dims=1)  # [B, 28]
    bar_left = tf.reduce_min(tf.where(bar_ink, index, float(SIZE)), 1)
    bar = tf.stack([tf.cast(bar_row, tf.float32), tf.minimum(bar_left, right)], 1)
    return stem, bar


def _extent(images: tf.Tensor, axis: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The first and last row (``axis`` 2) or column (``axis`` 1) with ink, [B] each."""
    seen = tf.reduce_max(images[..., 0], axis=axis) > 0.5  # [B, 28]
    index = tf.range(SIZE, dtype=tf.float32)
    first = tf.reduce_min(tf.where(seen, index, float(SIZE)), axis=1)
    last = tf.reduce_max(tf.where(seen, index, -1.0), axis=1)
    return tf.minimum(first, last), tf.maximum(first, last)  # no ink: a point


def _ink_ends(
    images: tf.Tensor, first: tf.Tensor, last: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(row, column) of the topmost and the bottommost ink (rows ``first`` and ``last``),
    [B, 2] each, and the height."""
    return (
        tf.stack([first, _ink_column(images, first)], 1),
        tf.stack([last, _ink_column(images, last)], 1),
        tf.maximum(last - first, 1.0),
    )


def _ink_column(images: tf.Tensor, row: tf.Tensor) -> tf.Tensor:
    """The ink-weighted mean column of each image's ``row`` (rounded to a pixel row)."""
    rows = tf.cast(tf.clip_by_value(tf.round(row), 0, SIZE - 1), tf.int32)
    line = tf.gather(images[..., 0], rows, axis=1, batch_dims=1)  # [B, 28]
    weight = tf.reduce_sum(line, axis=1)
    column = tf.reduce_sum(line * tf.range(SIZE, dtype=tf.float32), axis=1)
    return tf.where(weight > 0, column / tf.maximum(weight, 1e-6), (SIZE - 1) / 2.0)


def _segment(start: tf.Tensor, end: tf.Tensor) -> tf.Tensor:
    """A pen stroke from ``start`` to ``end`` ((row, column) [B, 2]) as ink [B, 28, 28, 1]:
    1 within STROKE_PIXELS / 2 of the segment, fading over one pixel. Rows and columns are
    kept apart ([B, 28, 28] each): broadcasting a last axis of 2 costs several times more."""
    rows, cols = _pixel_grid()
    ay, ax = start[:, 0, None, None], start[:, 1, None, None]
    dy, dx = end[:, 0, None, None] - ay, end[:, 1, None, None] - ax
    py, px = rows[None] - ay, cols[None] - ax
    along = tf.clip_by_value((py * dy + px * dx) / tf.maximum(dy * dy + dx * dx, 1e-6), 0.0, 1.0)
    distance = tf.sqrt(tf.square(py - along * dy) + tf.square(px - along * dx))
    return tf.clip_by_value(STROKE_PIXELS / 2 + 0.5 - distance, 0.0, 1.0)[..., None]


def _pixel_grid() -> tuple[tf.Tensor, tf.Tensor]:
    """Each pixel's row and column, float32 [28, 28] each."""
    index = tf.range(SIZE, dtype=tf.float32)
    return tuple(tf.meshgrid(index, index, indexing="ij"))


def _uniform(seed: tf.Tensor, batch: tf.Tensor, half_range: float) -> tf.Tensor:
    return tf.random.stateless_uniform([batch], seed, -half_range, half_range)


def _geometry(
    images: tf.Tensor, affine_seed: tf.Tensor, elastic_seed: tf.Tensor, batch: tf.Tensor, s: float
) -> tf.Tensor:
    """The affine map, then the elastic field, in one bilinear read: output pixel p shows
    the affine image at p + flow(p), that is the input at A^-1 (p + flow(p)) — one
    resampling instead of two (each softens the strokes a little), at half the cost."""
    ia, ib, tx, ic, id_, ty = (v[:, None, None] for v in _inverse_affine(affine_seed, batch, s))
    flow = _flow(elastic_seed, batch, s)
    rows, cols = _pixel_grid()
    y = rows[None] + flow[..., 0]
    x = cols[None] + flow[..., 1]
    return _read(images, ic * x + id_ * y + ty, ia * x + ib * y + tx)


def _inverse_affine(seed: tf.Tensor, batch: tf.Tensor, s: float) -> tuple[tf.Tensor, ...]:
    """(ia, ib, tx, ic, id, ty) [B] each: output (x, y) reads input
    (ia x + ib y + tx, ic x + id y + ty), the inverse of rotate * shear * scale about the
    centre, then a shift (ImageProjectiveTransformV3's order of the numbers)."""
    part = tf.random.experimental.stateless_split(seed, num=6)
    angle = _uniform(part[0], batch, math.radians(ROTATION_DEGREES) * s)
    shear = _uniform(part[1], batch, SHEAR * s)
    scale = 1.0 + _uniform(part[2], batch, SCALE * s)
    width = scale * (1.0 + _uniform(part[3], batch, ASPECT * s))
    dx, dy = (_uniform(part[i], batch, SHIFT_PIXELS * s) for i in (4, 5))
    cos, sin = tf.cos(angle), tf.sin(angle)
    # forward: [x'; y'] = R * Sh * diag(width, scale) [x; y], Sh = [[1, shear], [0, 1]]
    a, b = cos * width, (cos * shear - sin) * scale
    c, d = sin * width, (sin * shear + cos) * scale
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    centre = (SIZE - 1) / 2.0
    ox, oy = centre + dx, centre + dy  # where the input's centre lands
    return ia, ib, centre - (ia * ox + ib * oy), ic, id_, centre - (ic * ox + id_ * oy)


def _flow(seed: tf.Tensor, batch: tf.Tensor, s: float) -> tf.Tensor:
    """A smooth displacement field [B, 28, 28, 2] (rows, columns): random steps on a
    coarse grid, resized bicubically to the image (which smooths them)."""
    coarse = tf.random.stateless_uniform(
        [batch, ELASTIC_GRID, ELASTIC_GRID, 2], seed, -ELASTIC_PIXELS * s, ELASTIC_PIXELS * s
    )
    return tf.image.resize(coarse, [SIZE, SIZE], method="bicubic")


def _read(images: tf.Tensor, y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """images [B, H, W, 1] read at rows ``y``, columns ``x`` ([B, 28, 28] each), bilinear,
    zero outside.

    Each pixel's four neighbours are taken by one gather from a table that holds them side
    by side (a row of 4 per pixel of the zero-padded batch): one gather of rows costs a
    fraction of four of scalars, or of gather_nd with batch_dims."""
    side = SIZE + 2  # one pixel of zeros around each image (and one more for the table)
    batch = tf.shape(images)[0]
    padded = tf.pad(images[..., 0], [[0, 0], [1, 2], [1, 2]])
    corners = (padded[:, :-1, :-1], padded[:, :-1, 1:], padded[:, 1:, :-1], padded[:, 1:, 1:])
    table = tf.reshape(tf.stack(corners, -1), [-1, 4])  # [B * side * side, 4]
    y = tf.clip_by_value(y + 1, 0.0, side - 1.001)
    x = tf.clip_by_value(x + 1, 0.0, side - 1.001)
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = y - y0, x - x0
    offset = tf.cast(tf.range(batch) * side * side, tf.float32)[:, None, None]
    index = tf.cast(offset + y0 * side + x0, tf.int32)  # exact in float32 below 2^24
    a, b, c, d = tf.unstack(tf.gather(table, index), axis=-1)
    top = a * (1 - wx) + b * wx
    bottom = c * (1 - wx) + d * wx
    return (top * (1 - wy) + bottom * wy)[..., None]


def _thicker(images: tf.Tensor) -> tf.Tensor:
    return _max3x3(images)


def _thinner(images: tf.Tensor) -> tf.Tensor:
    """Erosion thins MNIST's 2-3 px strokes to almost nothing: half of it is kept."""
    eroded = -_max3x3(-images)
    return 0.4 * images + 0.6 * eroded


def _max3x3(images: tf.Tensor) -> tf.Tensor:
    """Grey dilation by a 3x3 square (max_pool2d's 'SAME' answer, padding included), as
    the max of shifted slices, rows then columns: on one channel of 28x28 images this is
    cheaper than the pooling kernel."""
    low = tf.reduce_min(images)  # what 'SAME' pooling's padding never wins against
    padded = tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]], constant_values=low)
    rows = tf.maximum(tf.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    return tf.maximum(tf.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])[..., None]


def _blurred(images: tf.Tensor) -> tf.Tensor:
    """A 3x3 Gaussian, [1 2 1]/4 down the rows then across the columns, zeros outside:
    shifted slices, cheaper on one channel than the convolution kernel."""
    padded = tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]])
    rows = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    return (0.25 * rows[:, :, :-2] + 0.5 * rows[:, :, 1:-1] + 0.25 * rows[:, :, 2:])[..., None]


def _low_res(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The batch down to 11-15 px (area) and back up (bilinear): a coarse scan."""
    side = tf.random.stateless_uniform([], seed, 11, 16, dtype=tf.int32)
    small = tf.image.resize(images, tf.stack([side, side]), method="area")
    return tf.image.resize(small, [SIZE, SIZE], method="bilinear")


def _some(seed: tf.Tensor, batch: tf.Tensor, p: float, change, images: tf.Tensor) -> tf.Tensor:
    """``change`` (a function of a batch) applied to a share ``p`` of the images, chosen per
    image as ``_chosen`` chooses them; only those are computed."""
    chosen = tf.where(_chosen(seed, batch, p))[:, 0]
    return tf.tensor_scatter_nd_update(images, chosen[:, None], change(tf.gather(images, chosen)))


def _chosen(seed: tf.Tensor, batch: tf.Tensor, p: float) -> tf.Tensor:
    """A share ``p`` of the batch, chosen per image: bool [B]."""
    return tf.random.stateless_uniform([batch], seed) < p
