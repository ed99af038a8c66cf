"""bench/lite_latency.py: a reader in LiteRT, in a process without TensorFlow, per image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from testbed import captures
from tests.helpers import run_python


def test_each_image_is_timed_once_after_a_warm_up_round(reader_file, test_digits, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, digit in enumerate(test_digits[0][:3]):
        encoded, suffix = captures.clean(rng, [digit])
        paths.append(tmp_path / f"{i}{suffix}")
        paths[-1].write_bytes(encoded)
    repo = Path(__file__).resolve().parents[2]
    done = run_python("-m", "bench.lite_latency", str(reader_file), *map(str, paths), cwd=repo)
    assert done.returncode == 0, done.stderr[-3000:]
    times = json.loads(done.stdout)
    assert list(times) == ["reader"] and len(times["reader"]) == len(paths)
    assert all(ms > 0 for ms in times["reader"])
