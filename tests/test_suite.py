"""The suite's own rule: `make test-fast` — every test not marked ``slow`` — still reaches
every module of the package, so the quick inner loop never leaves a module untested.

A module is reached when a test file with fast tests imports it, or, for a command (run
as a user runs it, in a child process), when its mirror ``tests/commands/test_<name>.py``
has fast tests."""

from __future__ import annotations

import ast
from pathlib import Path

import mnist_convnet

PACKAGE = Path(mnist_convnet.__file__).parent
TESTS = Path(__file__).parent


def _slow(node: ast.expr) -> bool:
    return ast.unparse(node) == "pytest.mark.slow"


def _fast_test_files(folder: Path = TESTS) -> dict[Path, ast.Module]:
    """Test files with at least one test that `make test-fast` runs."""
    trees = {}
    for path in sorted(folder.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        whole_file_slow = any(
            isinstance(node, ast.Assign)
            and any(getattr(target, "id", None) == "pytestmark" for target in node.targets)
            and _slow(node.value)
            for node in tree.body
        )
        fast = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            and node.name.startswith("test_")
            and not any(_slow(d) for d in node.decorator_list)
        ]
        if fast and not whole_file_slow:
            trees[path] = tree
    return trees


def _imported(tree: ast.Module) -> set[str]:
    """mnist_convnet modules a test file imports, by dotted name."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnist_convnet"):
            if node.module in (
                "mnist_convnet",
                "mnist_convnet.commands",
                "mnist_convnet.serving",
                "mnist_convnet.testing",
            ):
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("mnist_convnet")}
    return names


def test_the_fast_tier_reaches_every_module():
    modules = {
        "mnist_convnet." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in PACKAGE.rglob("*.py")
        if not p.stem.startswith("__") and "static" not in p.parts
    }
    fast = _fast_test_files()
    reached = set().union(*map(_imported, fast.values()))
    reached |= {
        f"mnist_convnet.commands.{path.stem[len('test_') :]}"
        for path in fast
        if path.parent.name == "commands"
    }
    assert sorted(modules - reached) == []


# bench modules whose smoke test is another's: bench/run.py runs bench/measure.py in a child
# process for every measurement (ours, fit, inference).
BENCH_RUN_BY = {"measure": "run"}


def test_every_bench_module_has_a_smoke_test():
    """`make bench` cannot break unseen: each bench module has its mirror in tests/bench/."""
    bench = PACKAGE.parent / "bench"
    modules = {p.stem for p in bench.glob("*.py") if p.stem != "__init__"}
    mirrored = {p.stem[len("test_") :] for p in (TESTS / "bench").glob("test_*.py")}
    assert sorted(modules - mirrored - set(BENCH_RUN_BY)) == []
    assert set(BENCH_RUN_BY.values()) <= mirrored


def test_a_slow_mark_takes_a_test_or_a_file_out_of_the_fast_tier(tmp_path):
    """The rule above reads the marks as pytest's ``-m "not slow"`` does."""
    header = "import pytest\nfrom mnist_convnet import data\n\n\n"
    (tmp_path / "test_marked.py").write_text(
        header + "@pytest.mark.slow\ndef test_a():\n    pass\n"
    )
    (tmp_path / "test_whole.py").write_text(
        header + "pytestmark = pytest.mark.slow\n\n\ndef test_b():\n    pass\n"
    )
    assert _fast_test_files(tmp_path) == {}
    (tmp_path / "test_fast.py").write_text(header + "def test_c():\n    pass\n")
    assert [_imported(tree) for tree in _fast_test_files(tmp_path).values()] == [
        {"mnist_convnet.data"}
    ]
