"""Helpers the test modules share: the raw IDX reader and running our CLIs as a user would."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (magic 0x0000 08 ndim, big-endian dims, then uint8 data) as an array."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4").astype(int)
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


def run_python(*args: str, cwd: Path | None = None, timeout: float = 600, **env: str):
    """Runs ``python ARGS`` in a child process; returns the CompletedProcess (text)."""
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
