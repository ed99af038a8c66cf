"""bench/personalize.py (`make bench-personalize`): a writer taught per style and k, as JSON."""

from __future__ import annotations

import pytest

from testbed import writers
from tests.helpers import run_bench


@pytest.mark.slow  # the finder on every style, two doors, trainable.tflite converted: ~20 s
def test_a_tiny_run_teaches_the_style_it_is_given(exported, manual_dir, data_dir):
    report = run_bench(
        "personalize",
        f"--model_dir={exported.parent}",
        "--styles=one_flag",
        "--ks=1",
        "--per_style=4",
        "--replay_pool=256",
        f"--mnist_dir={manual_dir}",
        "--page",
        "--page_mnist=50",
        data_dir=data_dir,
    )
    assert set(report["read_before"]) == set(writers.STYLES)
    rows = report["styles"]["one_flag"]
    assert [row["k"] for row in rows] == [0, 1]
    assert rows[0]["style"] == report["read_before"]["one_flag"]
    for row in rows:
        assert 0.0 <= row["style"] <= 1.0 and 0.9 <= row["mnist_test"] <= 1.0
        assert 0.0 <= row["other_styles"] <= 1.0
    assert rows[1]["seconds"] > 0
    phone = rows[1]["litert"]  # trainable.tflite taught the same digits in LiteRT
    assert 0.0 <= phone["style"] <= 1.0 and 0.9 <= phone["mnist_test"] <= 1.0
    assert phone["seconds"] > 0
    page = rows[1]["page"]  # the same file taught in the page's LiteRT.js, in Chromium
    assert page["examples"] == 10 and page["seconds"] > 0
    assert 0.0 <= page["style"] <= 1.0 and 0.8 <= page["mnist_test"] <= 1.0
    assert page["mnist_digits"] == 50 == rows[0]["page"]["mnist_digits"]
    assert page["style"] == phone["style"]  # train_slots is train: the same answers
