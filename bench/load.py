"""The REST server under load: `hey` against `mnist-convnet serve`, settings side by side.

    python -m bench.load --model_dir=saved_models/mnist_convnet            # make bench-load
    python -m bench.load --model_dir=... --seconds=10 --clients=1,8,32,128 --soak_seconds=60

Each server setting runs in its own `mnist-convnet serve` process on 127.0.0.1, one after
the other, taking turns per round: ``before`` is the server as it was (werkzeug's
development server, every request its own model call), ``after`` is ``make serve``
(granian, ``--enable_batching``). For each payload — one 28×28 uint8 MNIST test digit as
pixels, and the same digit as a b64 PNG — and each number of concurrent clients, `hey`
(Debian package ``hey``) POSTs for a bounded time, as a new user would:

    hey -z 10s -c 32 -m POST -T application/json -D one.json URL

Reported per run: requests per second, p50 and p99 latency, non-200 answers and transport
errors, and the server's resident memory before and after. ``--soak_seconds`` adds a long
run of the ``after`` server at the largest client count (memory growth under load).
Prints one JSON document.

A regression guard: ``--baseline=REV`` (``make bench-load BASELINE=REV``) checks that
commit out in a temporary git worktree and runs its ``make serve`` (``baseline``) beside
today's, taking turns on the same model, payloads and clients; ``versus_baseline`` gives
today's req/s and p99 over the baseline's for each payload and client count, the median
over rounds. Every serving benchmark before it compared today's code with itself, which
is how a halving of throughput went unseen.

    python -m bench.load --model_dir=... --baseline=c392468 --settings=after --rounds=2
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from absl import app, flags

from bench import summaries
from mnist_convnet.training import data
from testbed import memory, sheet

SETTINGS = {
    "before": ["--server=werkzeug"],
    "waitress": ["--server=waitress", "--enable_batching"],  # make serve until 2026-11-27
    "after": ["--enable_batching"],  # what `make serve` runs: granian
    "baseline": ["--enable_batching"],  # `make serve` of the --baseline commit
}

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel base folder.")
flags.DEFINE_integer("seconds", 10, "Seconds of load per run.")
flags.DEFINE_list("clients", ["1", "8", "32", "128"], "Concurrent clients per run.")
flags.DEFINE_list("payloads", ["pixels", "b64_png"], "What each request carries.")
flags.DEFINE_list("settings", ["before", "waitress", "after"], "Server settings to compare.")
flags.DEFINE_string(
    "baseline",
    None,
    "A git revision (commit, tag, branch) whose `make serve` runs first in every round, "
    "beside the --settings, from a temporary git worktree of this checkout.",
)
flags.DEFINE_integer("rounds", 1, "Rounds; the settings take turns within each.")
flags.DEFINE_integer("soak_seconds", 0, "A last run of `after` at the most clients (0: none).")
flags.DEFINE_string("data_dir", None, "tfds data dir.")


def payloads(folder: Path) -> dict[str, Path]:
    """one.json files: the first MNIST test digit as pixels and as a b64 PNG."""
    images, _ = data.as_numpy(data.load(flags.FLAGS.data_dir, data.default_manual_dir()).test, 1)
    digit = np.round(images[0, :, :, 0] * 255).astype(np.uint8)
    png = sheet.encode(255 - digit, "PNG")  # dark ink on white paper
    bodies = {
        "pixels": {"instances": [digit.tolist()]},
        "b64_png": {"instances": [{"b64": base64.b64encode(png).decode()}]},
    }
    paths = {}
    for name, body in bodies.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(body))
    return paths


def rss_mb(pid: int) -> float:
    """Resident memory of the server: its process and the worker granian runs it in."""
    return memory.tree_rss_kb(pid) / 1024


class Server:
    """`mnist-convnet serve` with some flags, on a free port, until closed."""

    def __init__(self, model_dir: str, extra: list[str], source: Path | None = None) -> None:
        """``source``: a checkout whose mnist_convnet runs instead of this one."""
        command = [
            sys.executable,
            "-m",
            "mnist_convnet",
            "serve",
            f"--model_dir={model_dir}",
            "--port=0",
            *extra,
        ]
        environment = dict(os.environ)
        if source is not None:  # `-m` imports from the working folder, before site-packages
            environment["PYTHONPATH"] = str(source)
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=source,
            env=environment,
        )
        line = self.process.stdout.readline()
        found = re.search(r"on (http://\S+/v1/models/mnist)", line)
        if not found:
            self.close()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = found.group(1) + ":predict"
        deadline = time.monotonic() + 30  # granian's worker announces a moment before it listens
        while not _answers(found.group(1)):
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("server did not answer")
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def hey(url: str, body: Path, clients: int, seconds: int) -> dict:
    """One `hey` run; latencies from its per-request CSV."""
    command = [
        "hey",
        "-z",
        f"{seconds}s",
        "-c",
        str(clients),
        "-m",
        "POST",
        "-T",
        "application/json",
        "-D",
        str(body),
        "-o",
        "csv",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    times = np.array([float(r["response-time"]) for r in rows]) * 1000
    codes = [r["status-code"] for r in rows]
    return {
        "clients": clients,
        "requests": len(rows),
        "req_per_s": round(len(rows) / seconds, 1),
        "p50_ms": round(float(np.percentile(times, 50)), 2) if len(times) else None,
        "p99_ms": round(float(np.percentile(times, 99)), 2) if len(times) else None,
        "non_200": sum(code != "200" for code in codes),
        "hey_exit": done.returncode,
    }


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """``revision`` checked out in a temporary git worktree of this checkout, removed after."""
    top = Path(__file__).resolve().parent.parent
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "source"
    added = subprocess.run(
        ["git", "-C", str(top), "worktree", "add", "--detach", "--quiet", str(folder), revision],
        capture_output=True,
        text=True,
    )
    if added.returncode != 0:
        shutil.rmtree(folder.parent, ignore_errors=True)
        sys.exit(f"error: cannot check out --baseline={revision}: {added.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(top), "worktree", "remove", "--force", str(folder)],
            capture_output=True,
        )
        shutil.rmtree(folder.parent, ignore_errors=True)


def measure(
    setting: str, body: Path, clients: list[int], seconds: int, source: Path | None = None
) -> dict:
    server = Server(
        str(Path(flags.FLAGS.model_dir).resolve()),
        SETTINGS[setting],
        source if setting == "baseline" else None,
    )
    try:
        hey(server.url, body, 1, 1)  # warm up: load, trace, first batches
        before = rss_mb(server.process.pid)
        runs = [hey(server.url, body, c, seconds) for c in clients]
        return {
            "rss_mb_before": round(before, 1),
            "rss_mb_after": round(rss_mb(server.process.pid), 1),
            "runs": runs,
        }
    finally:
        server.close()


def main(argv: list[str]) -> None:
    del argv
    if shutil.which("hey") is None:
        sys.exit("error: hey is not installed (Debian: apt-get install hey)")
    FLAGS = flags.FLAGS
    clients = [int(c) for c in FLAGS.clients]
    results: dict = {"date": time.strftime("%Y-%m-%d"), "seconds": FLAGS.seconds, "rounds": []}
    settings = [s for s in FLAGS.settings if s != "baseline"]
    with contextlib.ExitStack() as stack:
        source = None
        if FLAGS.baseline:
            source = stack.enter_context(worktree(FLAGS.baseline))
            results["baseline"] = FLAGS.baseline
            settings.insert(0, "baseline")
        bodies = payloads(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        for _ in range(FLAGS.rounds):
            round_results = {}
            for payload in FLAGS.payloads:
                for setting in settings:
                    key = f"{setting}/{payload}"
                    round_results[key] = measure(
                        setting, bodies[payload], clients, FLAGS.seconds, source
                    )
                    print(key, json.dumps(round_results[key]), file=sys.stderr, flush=True)
            results["rounds"].append(round_results)
        if FLAGS.baseline:
            results["versus_baseline"] = summaries.versus_baseline(results["rounds"], settings)
        if FLAGS.soak_seconds:
            soak = measure("after", bodies["pixels"], [max(clients)], FLAGS.soak_seconds)
            results["soak"] = soak
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    app.run(main)
