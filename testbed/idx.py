"""The official MNIST files read without tfds: what the data tests check tfds against, and
the test digits the captures and their benchmark are drawn from."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (magic 0x0000 08 ndim, big-endian dims, then uint8 data) as an array."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4").astype(int)
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)
