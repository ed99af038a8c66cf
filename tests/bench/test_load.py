"""bench/load.py (`make bench-load`): `hey` against `mnist-convnet serve`, as JSON."""

from __future__ import annotations

from tests.helpers import run_bench


def test_a_tiny_run_of_hey_against_make_serves_server(exported, data_dir):
    report = run_bench(
        "load",
        f"--model_dir={exported.parent}",
        "--seconds=1",
        "--clients=2",
        "--payloads=b64_png",  # a server per payload; both are one.json files to hey
        "--settings=after",
        data_dir=data_dir,
    )
    assert report["seconds"] == 1 and len(report["rounds"]) == 1
    (results,) = report["rounds"]
    assert list(results) == ["after/b64_png"]
    for key, measured in results.items():
        assert measured["rss_mb_before"] > 100, key
        (run,) = measured["runs"]
        assert run["clients"] == 2 and run["hey_exit"] == 0, run
        assert run["requests"] > 0 and run["non_200"] == 0, (key, run)
        assert run["p50_ms"] <= run["p99_ms"]
