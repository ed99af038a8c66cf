"""components.py: the hand-written labelling against breadth-first search, and long runs."""

from __future__ import annotations

from collections import deque

import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mnist_convnet.finder import components

# --- connected components: the hand-written labelling against breadth-first search -----


def label_components(mask: np.ndarray) -> np.ndarray:
    """int32 [h, w]: 0 off the mask, else one label (>= 1) per 8-connected component."""
    points = tf.cast(tf.where(mask), tf.int32)
    labels = components.label_points(points, tf.shape(mask)) + 1
    return tf.scatter_nd(points, labels, tf.shape(mask)).numpy()


def _bfs_components(mask: np.ndarray) -> list[frozenset]:
    seen, found = np.zeros_like(mask), []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start], queue, members = True, deque([start]), set()
        while queue:
            y, x = queue.popleft()
            members.add((y, x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    n = (y + dy, x + dx)
                    if (
                        0 <= n[0] < mask.shape[0]
                        and 0 <= n[1] < mask.shape[1]
                        and mask[n]
                        and not seen[n]
                    ):
                        seen[n] = True
                        queue.append(n)
        found.append(frozenset(members))
    return found


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mask=arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_labels_are_the_8_connected_components(mask):
    labels = label_components(mask)
    assert (labels > 0).tolist() == mask.tolist()
    ours = {frozenset(zip(*np.nonzero(labels == v))) for v in np.unique(labels) if v}
    assert ours == set(_bfs_components(mask))


def test_a_long_spiral_is_one_component():
    """Labels spread along runs and jump: a snake through a 61x61 field is still one."""
    mask = np.zeros((61, 61), bool)
    mask[::4, :] = True
    for i, row in enumerate(range(0, 57, 4)):
        mask[row : row + 5, 60 if i % 2 == 0 else 0] = True
    labels = label_components(mask)
    assert len(np.unique(labels[mask])) == 1


def _longest_run_reference(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Pixel by pixel: the length of the run holding it, along rows and along columns."""
    out = np.zeros(mask.shape, bool)
    for grid, flip in ((mask, False), (mask.T, True)):
        found = np.zeros(grid.shape, bool)
        for r, row in enumerate(grid):
            c = 0
            while c < len(row):
                end = c
                while end < len(row) and row[end]:
                    end += 1
                if end > c and end - c >= fraction * len(row):
                    found[r, c:end] = True
                c = end + 1
        out |= found.T if flip else found
    return out


@settings(max_examples=60, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_long_runs_are_the_runs_of_that_length(mask):
    for fraction in (0.5, 0.9):
        ours = components.long_runs(tf.constant(mask, tf.float32), fraction).numpy() > 0
        assert ours.tolist() == _longest_run_reference(mask, fraction).tolist()
