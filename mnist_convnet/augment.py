"""Training-time augmentation: MNIST's digits as other hands and other scanners make them.

MNIST's writers slant little, write at one size and one pen, and are scanned well; other
writers do not. Each training batch (float32 [B, 28, 28, 1] in [0, 1]) is changed, image
by image, the ways those differ, with every random number drawn from a seed made of the
run's seed, the epoch and the batch's index, so a resumed run sees the batches an
unbroken one does:

    affine     rotation, shear (slant), scale, a narrower or wider digit, a shift
    elastic    a smooth random displacement field: the wobble of a hand (Simard,
               Steinkraus and Platt 2003: 0.4% error on MNIST against 0.6% with affine
               distortions alone)
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


def augment(images: tf.Tensor, seed: tf.Tensor, strength: float) -> tf.Tensor:
    """A batch changed image by image; ``seed`` is int32/int64 [2] (stateless ops)."""
    if strength <= 0:
        return images
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
    batch = tf.shape(images)[0]
    images = _affine(images, seeds[0], batch, strength)
    images = _elastic(images, seeds[1], batch, strength)
    images = _where(seeds[2], batch, P_THICK * strength, _thicker(images), images)
    images = _where(seeds[3], batch, P_THIN * strength, _thinner(images), images)
    images = _where(seeds[4], batch, P_BLUR * strength, _blurred(images), images)
    low = _low_res(images, seeds[5])
    images = _where(seeds[6], batch, P_LOW_RES * strength, low, images)
    return tf.clip_by_value(images, 0.0, 1.0)


def _uniform(seed: tf.Tensor, batch: tf.Tensor, half_range: float) -> tf.Tensor:
    return tf.random.stateless_uniform([batch], seed, -half_range, half_range)


def _affine(images: tf.Tensor, seed: tf.Tensor, batch: tf.Tensor, s: float) -> tf.Tensor:
    """Each image mapped about its centre: output (x, y) reads input A^-1 (x, y) - shift.

    ImageProjectiveTransformV3 takes the map from output to input pixels, so the matrix
    built here is the inverse of rotate * shear * scale."""
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
    tx = centre - (ia * ox + ib * oy)
    ty = centre - (ic * ox + id_ * oy)
    zeros = tf.zeros_like(ia)
    transforms = tf.stack([ia, ib, tx, ic, id_, ty, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([SIZE, SIZE]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _elastic(images: tf.Tensor, seed: tf.Tensor, batch: tf.Tensor, s: float) -> tf.Tensor:
    """A smooth displacement field: random steps on a coarse grid, resized bicubically to
    the image (smoothing it), then each pixel read bilinearly from where it points."""
    coarse = tf.random.stateless_uniform(
        [batch, ELASTIC_GRID, ELASTIC_GRID, 2], seed, -ELASTIC_PIXELS * s, ELASTIC_PIXELS * s
    )
    flow = tf.image.resize(coarse, [SIZE, SIZE], method="bicubic")
    return _sample(images, flow)


def _sample(images: tf.Tensor, flow: tf.Tensor) -> tf.Tensor:
    """images [B, H, W, 1] read at (y + flow_y, x + flow_x), bilinear, zero outside."""
    grid_y, grid_x = tf.meshgrid(
        tf.range(SIZE, dtype=tf.float32), tf.range(SIZE, dtype=tf.float32), indexing="ij"
    )
    y = grid_y[None] + flow[..., 0]
    x = grid_x[None] + flow[..., 1]
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])  # zeros just outside

    def at(yy: tf.Tensor, xx: tf.Tensor) -> tf.Tensor:
        iy = tf.cast(tf.clip_by_value(yy + 1, 0, SIZE + 1), tf.int32)
        ix = tf.cast(tf.clip_by_value(xx + 1, 0, SIZE + 1), tf.int32)
        return tf.gather_nd(padded, tf.stack([iy, ix], axis=-1), batch_dims=1)

    top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
    bottom = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def _thicker(images: tf.Tensor) -> tf.Tensor:
    return tf.nn.max_pool2d(images, 3, 1, "SAME")


def _thinner(images: tf.Tensor) -> tf.Tensor:
    """Erosion thins MNIST's 2-3 px strokes to almost nothing: half of it is kept."""
    eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    return 0.4 * images + 0.6 * eroded


_GAUSS = tf.constant([0.25, 0.5, 0.25])
_KERNEL = tf.reshape(_GAUSS[:, None] * _GAUSS[None, :], [3, 3, 1, 1])


def _blurred(images: tf.Tensor) -> tf.Tensor:
    return tf.nn.conv2d(images, _KERNEL, 1, "SAME")


def _low_res(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The batch down to 11-15 px (area) and back up (bilinear): a coarse scan."""
    side = tf.random.stateless_uniform([], seed, 11, 16, dtype=tf.int32)
    small = tf.image.resize(images, tf.stack([side, side]), method="area")
    return tf.image.resize(small, [SIZE, SIZE], method="bilinear")


def _where(seed: tf.Tensor, batch: tf.Tensor, p: float, changed, images) -> tf.Tensor:
    """``changed`` for a share ``p`` of the images, drawn per image."""
    chosen = tf.random.stateless_uniform([batch], seed) < p
    return tf.where(chosen[:, None, None, None], changed, images)
