"""bench/writers.py (`make bench-writers`): the writers' set read through each door, as JSON."""

from __future__ import annotations

import pytest

from testbed import optdigits
from tests.helpers import run_bench

KINDS = ["seven_crossed", "mnist_small"]


@pytest.mark.slow  # a SavedModel loaded, its finder run through two doors on three sets: ~30 s
def test_a_tiny_writers_set_is_read_per_style_and_door(exported, manual_dir):
    """Two kinds, two images each, both seeds, and two of the real writers' digits in each
    of their kinds; no reader (the reader is test_captures'): TensorFlow alone and
    `predict` read the same share right."""
    report = run_bench(
        "writers",
        f"--model_dir={exported.parent}",
        "--per_kind=2",
        "--kinds=" + ",".join(KINDS),
        "--readers=",
        "--real_count=2",
        f"--mnist_dir={manual_dir}",
    )
    assert report["held_out_styles"] and report["readers"] == {}
    assert list(report["sets"]) == ["tuning", "held_out", "real"]
    assert [s["seed"] for s in report["sets"].values()] == [1, 2, None]
    real = report["sets"].pop("real")
    assert list(real["kinds"]) == list(optdigits.KINDS)
    assert all(row["images"] == 2 for row in real["kinds"].values())
    means = real["summary"]["tf_only"]
    assert means["drawn_mean"] is None and means["transformed_mean"] is None
    assert means["real_mean"] == round(sum(r["tf_only"] for r in real["kinds"].values()) / 2, 4)
    assert set(real["by_label"]) == {str(label) for *_, label in optdigits.optdigits_set(2)}
    for found in report["sets"].values():
        assert list(found["kinds"]) == KINDS
        for row in found["kinds"].values():
            assert row["images"] == 2 and row["tf_only"] == row["predict"]
            assert 0.0 <= row["tf_only"] <= 1.0
        summary = found["summary"]["tf_only"]
        assert summary["real_mean"] is None
        assert summary["drawn_mean"] == found["kinds"]["seven_crossed"]["tf_only"]
        assert summary["transformed_mean"] == found["kinds"]["mnist_small"]["tf_only"]
        assert summary["worst"] == min(r["tf_only"] for r in found["kinds"].values())
        hard = found["hard"]
        wrong = sum(round((1 - r["tf_only"]) * r["images"]) for r in found["kinds"].values())
        assert hard["wrong"] == wrong
        assert (hard["of_wrong"] is None) == (wrong == 0)
        assert hard["of_right"] is not None and 0.0 <= hard["of_right"] <= 1.0
