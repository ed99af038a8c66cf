"""bench/explain.py: `:explain` timed in-process, as JSON (the browser half runs in
`make bench-explain`; the page's own tests drive the panel in Chromium)."""

from __future__ import annotations

from tests.helpers import run_bench


def test_a_tiny_run_times_the_request_the_signature_and_the_json(exported, data_dir):
    report = run_bench(
        "explain",
        f"--model_dir={exported.parent}",
        "--digits=2",
        "--repeats=2",
        "--nobrowser",
        data_dir=data_dir,
    )
    assert "browser" not in report
    timed = report["in_process"]
    for part in ("explain_request", "signature_only", "json_only"):
        assert timed[part]["n"] == 4, part
        assert 0 < timed[part]["median_ms"] <= timed[part]["p90_ms"] <= timed[part]["max_ms"]
    # the whole request holds the signature and the encoding
    assert timed["explain_request"]["median_ms"] > timed["json_only"]["median_ms"]
    assert timed["body_bytes"] > 100_000  # every layer's arrays
