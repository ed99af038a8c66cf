"""What the finder's tests share: a digit's scene, and find_number in a graph."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnist_convnet.finder import find
from testbed import sheet

find_number = tf.function(find.find_number, input_signature=[tf.TensorSpec([], tf.string)])


def scene(digit: np.ndarray, rng_seed: int = 0) -> tuple[np.ndarray, np.random.Generator]:
    """The digit's ink, 90 px tall, placed in a 200x240 field (same place for the same seed)."""
    rng = np.random.default_rng(rng_seed)
    return sheet.single(rng, digit, 90, (200, 240)), rng
