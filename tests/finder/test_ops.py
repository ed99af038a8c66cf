"""ops.py: the builtin-only pieces equal the TensorFlow ops they stand for."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mnist_convnet.finder import ops

# --- the builtin-only pieces equal the TensorFlow ops they stand for ---------------------
# reader.tflite is built from these functions, so they must say exactly what the ops the
# SavedModel used before said (tests/test_tflite.py checks the file has builtins only).

sizes = st.tuples(st.integers(1, 70), st.integers(1, 70))


@settings(max_examples=40, deadline=None)
@given(shape=sizes, out=sizes, seed=st.integers(0, 2**16))
def test_resizes_equal_tf_image_resize(shape, out, seed):
    image = np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
    size = tf.constant(out)
    for method, ours in [
        ("area", ops.resize_area),
        ("bilinear", ops.resize_bilinear),
    ]:
        theirs = tf.image.resize(image[..., None], out, method=method)[..., 0]
        np.testing.assert_allclose(ours(image, size), theirs, atol=2e-3, err_msg=method)
    theirs = tf.image.resize(image[..., None], out, method="bilinear", antialias=True)[..., 0]
    np.testing.assert_allclose(ops.resize_antialiased(image, size), theirs, atol=2e-3)


def test_a_resize_reads_only_the_corner_it_is_given():
    """reader.tflite's frame: the image in the corner, anything in the rest."""
    rng = np.random.default_rng(0)
    frame = rng.uniform(0, 255, (64, 64)).astype(np.float32)
    corner = tf.constant([30, 45])
    for ours, out in [
        (ops.resize_area, [12, 18]),
        (ops.resize_bilinear, [60, 90]),
    ]:
        np.testing.assert_allclose(
            ours(frame, tf.constant(out), corner),
            ours(frame[:30, :45], tf.constant(out)),
            atol=1e-3,
        )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_solve_spd_is_the_ridge_least_squares_fit(seed):
    rng = np.random.default_rng(seed)
    terms = rng.uniform(-1, 1, (40, 6)).astype(np.float32)
    target = rng.uniform(0, 255, (40, 1)).astype(np.float32)
    ridge = 1e-3
    normal = terms.T @ terms + ridge * np.eye(6, dtype=np.float32)
    ours = ops.solve_spd(tf.constant(normal), tf.constant(terms.T @ target))
    theirs = tf.linalg.lstsq(terms, target, l2_regularizer=ridge)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-2)


@settings(max_examples=40, deadline=None)
@given(values=arrays(np.float32, st.integers(1, 300), elements=st.floats(0, 255.5, width=32)))
def test_percentile_and_cumulative_max_match_numpy(values):
    for q in (0.1, 0.5, 0.9):
        ours = float(ops.percentile(tf.constant(values), q))
        levels = np.sort(np.floor(values))
        assert ours == levels[max(int(np.ceil(q * len(values))), 1) - 1]
    ints = np.round(values).astype(np.int32)
    got = ops.cumulative_max(tf.constant(ints)).numpy()
    assert got.tolist() == np.maximum.accumulate(ints).tolist()
