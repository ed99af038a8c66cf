"""bench/load.py (`make bench-load`): `hey` against `mnist-convnet serve`, as JSON."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_bench, run_python

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow  # a server and hey: ~12 s
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


@pytest.mark.slow
def test_baseline_runs_a_commits_server_beside_todays(exported, data_dir):
    """--baseline=REV: that commit's `make serve` from a git worktree, side by side with
    today's in one round, and their ratios; the worktree is gone afterwards."""
    before = _worktrees()
    report = run_bench(
        "load",
        f"--model_dir={exported.parent}",
        "--seconds=1",
        "--clients=2",
        "--payloads=pixels",
        "--settings=after",
        "--baseline=HEAD",
        data_dir=data_dir,
    )
    (results,) = report["rounds"]
    assert list(results) == ["baseline/pixels", "after/pixels"]
    for measured in results.values():
        (run,) = measured["runs"]
        assert run["requests"] > 0 and run["non_200"] == 0, run
    assert report["baseline"] == "HEAD"
    ratios = report["versus_baseline"]["after/pixels/c2"]
    assert ratios["req_per_s_ratio"] > 0 and ratios["p99_ratio"] > 0
    assert _worktrees() == before


def test_a_baseline_that_is_no_commit_is_one_error_line(exported):
    done = run_python(
        "-m", "bench.load", f"--model_dir={exported.parent}", "--baseline=no-such-rev", cwd=REPO
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]  # after TensorFlow's start-up lines
    assert last.startswith("error: cannot check out --baseline=no-such-rev")
    assert "Traceback" not in done.stderr


def _worktrees() -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listed.stdout.splitlines() if line.startswith("worktree ")]
