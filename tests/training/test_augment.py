"""augment.py: each change does what its name says, drawn from the seed alone."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.training import augment
from mnist_convnet.training import config as config_lib


@pytest.fixture(scope="module")
def batch(mnist) -> tuple[tf.Tensor, tf.Tensor]:
    """256 training digits, float32 [256, 28, 28, 1] in [0, 1], and their labels."""
    return next(iter(mnist.train.batch(256)))


@pytest.fixture(scope="module")
def digits(batch) -> tf.Tensor:
    return batch[0][:64]


def _seed(*values: int) -> tf.Tensor:
    return tf.constant(values, tf.int64)


def test_strength_zero_leaves_the_batch_as_it_is(batch):
    images, labels = batch
    assert augment.augment(images, labels, _seed(1, 2), 0.0) is images


def test_the_same_seed_gives_the_same_batch_and_another_seed_another(batch):
    images, labels = batch
    once = augment.augment(images, labels, _seed(1, 2), 1.0).numpy()
    again = augment.augment(images, labels, _seed(1, 2), 1.0).numpy()
    np.testing.assert_array_equal(once, again)
    assert not np.array_equal(once, augment.augment(images, labels, _seed(1, 3), 1.0).numpy())
    assert once.shape == tuple(images.shape) and once.min() >= 0 and once.max() <= 1


def _centre_of_ink(images: np.ndarray) -> np.ndarray:
    ink = images[..., 0]
    grid = np.mgrid[0:28, 0:28]
    mass = ink.sum((1, 2))
    return np.stack([(ink * g).sum((1, 2)) / mass for g in grid], axis=1)


def test_a_digit_stays_a_digit_where_it_was(batch):
    """Affine about the centre, a shift of at most 2 px, a field of at most 1.2 px: the ink
    keeps a good part of its mass (a thinner pen on a smaller digit loses most) and its
    centre moves a few pixels at most, never off the image."""
    images, labels = batch
    changed = augment.augment(images, labels, _seed(4, 4), 1.0).numpy()
    moved = np.abs(_centre_of_ink(changed) - _centre_of_ink(images.numpy())).max()
    assert moved < 5.0
    ratio = changed.sum((1, 2, 3)) / images.numpy().sum((1, 2, 3))
    assert ratio.min() > 0.25 and ratio.max() < 4.0  # neither gone nor a blot


def test_the_affine_part_slants_as_the_shear_says(digits, monkeypatch):
    """With only the shear on (+0.35: x += 0.35 y about the centre), a vertical bar leans:
    its bottom moves right of its top by 0.35 times its height."""
    for name in ("ROTATION_DEGREES", "SCALE", "ASPECT", "SHIFT_PIXELS", "ELASTIC_PIXELS"):
        monkeypatch.setattr(augment, name, 0.0)
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 4:24, 13:15] = 1.0
    seen = []
    for seed in range(40):  # shears drawn from [-0.35, 0.35]: keep the strongest one
        out = augment._geometry(
            tf.constant(bar), _seed(seed, 0), _seed(seed, 1), tf.constant(1), 1.0
        ).numpy()
        cols = np.arange(28)
        top = (out[0, 6, :, 0] * cols).sum() / out[0, 6, :, 0].sum()
        bottom = (out[0, 21, :, 0] * cols).sum() / out[0, 21, :, 0].sum()
        seen.append((bottom - top) / 15)
    assert 0.25 < max(np.abs(seen)) <= 0.36


def test_pens_blur_and_coarse_scans(digits):
    x = digits.numpy()
    mass = x.sum()
    assert augment._thicker(digits).numpy().sum() > 1.5 * mass
    assert augment._thinner(digits).numpy().sum() < 0.8 * mass
    blurred = augment._blurred(digits).numpy()
    assert abs(blurred.sum() - mass) / mass < 0.02
    assert (blurred > 0.01).sum() > 1.2 * (x > 0.01).sum()  # the ink spread out
    coarse = augment._low_res(digits, _seed(0, 1)).numpy()
    assert abs(coarse.sum() - mass) / mass < 0.05 and not np.allclose(coarse, x, atol=0.05)


def test_ones_get_flags_and_feet_sevens_bars_and_nothing_else_is_touched(batch):
    """At a strength that makes every share certain: each 1 gains ink above-left of its
    top (a flag) and along its bottom row (a foot), each 7 a run of ink across its
    middle; every digit not drawn on (2, 3, 5, 6, 8, 9) is left as it was."""
    images, labels = batch
    x, y = images.numpy(), labels.numpy()
    out = augment.styled(images, labels, _seed(0, 9), 10.0).numpy()
    added = np.clip(out - x, 0, None)[..., 0]
    untouched = ~np.isin(y, augment.STYLED_LABELS)
    assert untouched.sum() > 100 and np.array_equal(out[untouched], x[untouched])
    flagged, footed = [], []  # MNIST has some already: a flag over a flag adds little ink
    for i in np.flatnonzero(y == 1):
        rows = np.flatnonzero(x[i, ..., 0].max(1) > 0.5)
        top, bottom = rows[0], rows[-1]
        flagged.append(added[i, top : top + (bottom - top) // 2].sum() > 2)
        footed.append(added[i, bottom - 1 : bottom + 2].sum() > 2)
    assert len(flagged) > 10 and np.mean(flagged) > 0.9 and np.mean(footed) > 0.9
    crossed = []
    for i in np.flatnonzero(y == 7):
        rows = np.flatnonzero(x[i, ..., 0].max(1) > 0.5)
        third, quarter = (rows[-1] - rows[0]) // 3, (rows[-1] - rows[0]) // 4
        crossed.append(added[i, rows[0] + third : rows[-1] - quarter].sum() > 2)
    assert len(crossed) > 10 and np.mean(crossed) > 0.9


def _leaning(ink: np.ndarray) -> float:
    """The covariance of an ink's rows and columns, weighted by it: negative when the
    ink runs up to the right, as a slash does, or a 4's roof from its bar to its stem."""
    rows, cols = np.mgrid[0:28, 0:28]
    mass = ink.sum()
    r, c = (ink * rows).sum() / mass, (ink * cols).sum() / mass
    return float((ink * (rows - r) * (cols - c)).sum() / mass)


def test_zeros_get_a_slash_and_fours_a_roof(batch):
    """At a strength that makes every share certain: each 0 gains ink through its hole,
    rising to the right; each 4 gains a stroke rising to the right from the left end of
    its bar to the top of its stem, above the bar."""
    images, labels = batch
    x, y = images.numpy(), labels.numpy()
    added = np.clip(augment.styled(images, labels, _seed(0, 9), 10.0).numpy() - x, 0, None)
    slashed = []
    for i in np.flatnonzero(y == 0):
        ink = x[i, ..., 0] > 0.5
        rows, cols = np.flatnonzero(ink.max(1)), np.flatnonzero(ink.max(0))
        h, w = rows[-1] - rows[0], cols[-1] - cols[0]
        hole = added[i, rows[0] + h // 3 : rows[-1] - h // 3, cols[0] + w // 3 : cols[-1] - w // 3]
        slashed.append(hole.sum() > 1 and _leaning(added[i, ..., 0]) < -1)
    assert len(slashed) > 10 and np.mean(slashed) > 0.9
    roofed = []
    for i in np.flatnonzero(y == 4):
        rows = np.flatnonzero(x[i, ..., 0].max(1) > 0.5)
        below = rows[0] + 0.85 * (rows[-1] - rows[0]) + 2  # under the lowest row a bar has
        ink = added[i, ..., 0]
        roofed.append(ink.sum() > 2 and _leaning(ink) < -1 and ink[int(below) :].sum() < 0.5)
    assert len(roofed) > 10 and np.mean(roofed) > 0.8


def test_the_strokes_are_drawn_on_the_whole_batch_not_only_the_changed_share(batch, monkeypatch):
    """With no image chosen to be changed (SHARE 0), augment still draws the strokes other
    hands add, and only those: every 0, 1, 4 and 7 gains ink, every other digit stays as
    it was (a flagged 1 is seen undistorted as well as turned and slanted)."""
    monkeypatch.setattr(augment, "SHARE", 0.0)
    images, labels = batch
    x, y = images.numpy(), labels.numpy()
    out = augment.augment(images, labels, _seed(2, 5), 10.0).numpy()
    drawn_on = np.isin(y, augment.STYLED_LABELS)
    assert np.array_equal(out[~drawn_on], x[~drawn_on])
    gained = (out - x).sum((1, 2, 3))
    assert drawn_on.sum() > 40 and np.mean(gained[drawn_on] > 2) > 0.9


def test_the_pen_kernels_are_grey_dilation_and_erosion(digits):
    """_max3x3 is max_pool2d's 3x3 'SAME' answer, for ink and for its negative (erosion)."""
    for images in (digits, -digits, digits - 0.5):
        np.testing.assert_array_equal(
            augment._max3x3(images).numpy(), tf.nn.max_pool2d(images, 3, 1, "SAME").numpy()
        )


def test_the_sampler_reads_bilinearly_where_it_is_told(digits):
    """Reading every pixel (+0.5, -1.25) px away is a shift: _read gives what TensorFlow's
    own bilinear ImageProjectiveTransformV3 gives for it, zeros coming in at the edges."""
    rows, cols = augment._pixel_grid()
    shifted = tf.raw_ops.ImageProjectiveTransformV3(
        images=digits,
        transforms=tf.constant([[1.0, 0, -1.25, 0, 1.0, 0.5, 0, 0]] * 64),
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    shape = [64, 28, 28]
    read = augment._read(
        digits, tf.broadcast_to(rows + 0.5, shape), tf.broadcast_to(cols - 1.25, shape)
    )
    np.testing.assert_allclose(read.numpy(), shifted.numpy(), atol=1e-5)


def test_without_the_field_the_geometry_is_the_affine_transform(digits, monkeypatch):
    """The one read of _geometry, its elastic field off, is ImageProjectiveTransformV3 of
    the affine map (what the pipeline ran before the two were read at once)."""
    monkeypatch.setattr(augment, "ELASTIC_PIXELS", 0.0)
    seed, batch = _seed(3, 0), tf.shape(digits)[0]
    matrix = tf.stack([*augment._inverse_affine(seed, batch, 1.0)], 1)
    affine = tf.raw_ops.ImageProjectiveTransformV3(
        images=digits,
        transforms=tf.concat([matrix, tf.zeros([batch, 2])], 1),
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    geometry = augment._geometry(digits, seed, _seed(3, 1), batch, 1.0)
    np.testing.assert_allclose(geometry.numpy(), affine.numpy(), atol=1e-4)


def test_the_blur_is_the_gaussian_convolution(digits):
    kernel = tf.reshape(
        tf.constant([[1, 2, 1], [2, 4, 2], [1, 2, 1]], tf.float32) / 16, [3, 3, 1, 1]
    )
    expected = tf.nn.conv2d(digits, kernel, 1, "SAME")
    np.testing.assert_allclose(augment._blurred(digits).numpy(), expected.numpy(), atol=1e-6)


# The constants each revision of augment.py draws with (config.AUGMENT_REVISION). A
# constant changed under the same revision would let a run trained with the old one resume
# and be exported as new: change one, and add its revision here and in config.py.
CONSTANTS_BY_REVISION = {
    2: {
        "SIZE": 28,
        "ROTATION_DEGREES": 15.0,
        "SHEAR": 0.35,
        "SCALE": 0.15,
        "ASPECT": 0.2,
        "SHIFT_PIXELS": 2.0,
        "ELASTIC_PIXELS": 1.2,
        "ELASTIC_GRID": 4,
        "P_THICK": 0.2,
        "P_THIN": 0.2,
        "P_BLUR": 0.15,
        "P_LOW_RES": 0.15,
        "SHARE": 0.5,
        "P_FLAG": 0.7,
        "P_FOOT": 0.3,
        "P_CROSSBAR": 0.7,
        "STROKE_PIXELS": 2.2,
    },
}
CONSTANTS_BY_REVISION[3] = {
    **CONSTANTS_BY_REVISION[2],
    "P_SLASH": 0.3,
    "P_CLOSED": 0.3,
    "STYLED_LABELS": (0, 1, 4, 7),
}


def test_a_changed_constant_comes_with_a_new_augment_revision():
    constants = {name: value for name, value in vars(augment).items() if name.isupper()}
    assert constants == CONSTANTS_BY_REVISION[config_lib.AUGMENT_REVISION]
