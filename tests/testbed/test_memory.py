"""testing/memory.py: a process tree's resident memory, children counted."""

from __future__ import annotations

import os
import subprocess
import sys

from testbed.memory import tree_rss_kb


def test_a_child_holding_memory_is_counted_in_its_parents_tree():
    alone = tree_rss_kb(os.getpid())
    code = (
        "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        "print(1, flush=True); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child.stdout.readline()
        assert tree_rss_kb(os.getpid()) - alone > 150 * 1024
    finally:
        child.kill()
        child.wait()
