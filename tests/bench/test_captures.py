"""bench/captures.py: captures read four ways (SavedModel, `predict`, REST, and each
reader.tflite in LiteRT through bench/lite_latency.py) and their latency, as JSON."""

from __future__ import annotations

import pytest

from tests.helpers import run_bench

KINDS = ["clean", "number_clean"]
SAMPLES = ("photo_640x480_jpeg", "mnist_28x28_png", "captures")


def _captures(exported, manual_dir, readers: str, kinds: list[str]) -> dict:
    return run_bench(
        "captures",
        f"--model_dir={exported.parent}",
        "--per_kind=3",
        "--kinds=" + ",".join(kinds),
        f"--readers={readers}",
        f"--mnist_dir={manual_dir}",
    )


def _check(report: dict, entries: set[str], kinds: list[str]) -> None:
    assert list(report["kinds"]) == kinds
    for kind, row in report["kinds"].items():
        assert {e for e in row if not e.endswith(("_agrees", "disagreements"))} == entries, kind
        assert all(0.0 <= row[e] <= 1.0 for e in entries)
        assert row["disagreements"] == 0, kind  # the SavedModel, predict and REST agree
    for sample in SAMPLES:
        assert report["latency"][sample]["serving_images"]["p50_ms"] > 0, sample


@pytest.mark.slow  # a SavedModel loaded, every capture kind read: ~15 s
def test_without_readers_tensorflow_alone_is_read_and_timed(exported, manual_dir):
    """One kind, so one `predict` process beside the REST server."""
    report = _captures(exported, manual_dir, readers="", kinds=["clean"])
    assert report["readers"] == {}
    _check(report, {"tf_only", "predict", "rest"}, kinds=["clean"])
    assert set(report["latency"]["photo_640x480_jpeg"]) == {"serving_images"}


@pytest.mark.slow  # the reader's conversion (reader_file), shared with the reader tests
def test_a_reader_is_read_like_a_phone_and_timed_in_litert(exported, manual_dir, reader_file):
    report = _captures(exported, manual_dir, readers=str(reader_file), kinds=KINDS)
    _check(report, {"tf_only", "predict", "rest", "tflite:reader"}, kinds=KINDS)
    assert report["latency"]["bytes"]["reader"] == reader_file.stat().st_size
    for sample in SAMPLES:
        timed = report["latency"][sample]["reader"]  # bench/lite_latency.py's numbers
        assert timed["p50_ms"] > 0 and timed["calls"] > 0
