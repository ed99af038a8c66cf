"""Memory and children of a server: the process and every process it started (granian
serves from a child), read from /proc. No flags here, so tests can import it too."""

from __future__ import annotations

from pathlib import Path


def tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB, added up (processes that
    share pages, as a fork's do, are each counted whole)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        for line in Path(f"/proc/{current}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        pending += children(current)
    return total


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (granian's worker, for its parent)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found
