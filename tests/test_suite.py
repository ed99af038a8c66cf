"""The suite's own rule: `make test-fast` — every test not marked ``slow`` — still reaches
every module of the package, so the quick inner loop never leaves a module untested.

A module is reached when a test file with fast tests imports it, or, for a command (run
as a user runs it, in a child process), when its mirror ``tests/commands/test_<name>.py``
has fast tests."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shutil
import subprocess
import sys
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
            folder = PACKAGE.joinpath(*node.module.split(".")[1:])
            if (folder / "__init__.py").is_file():  # from a package: its modules by name
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
BENCH = PACKAGE.parent / "bench"
_OURS = ("mnist_convnet", "testbed", "bench")


def test_every_bench_module_has_a_tiny_run():
    """`make bench` cannot break unseen: each bench module has its mirror in tests/bench/,
    which runs it cut to a few steps (most in the slow tier: a TensorFlow process each)."""
    modules = {p.stem for p in BENCH.glob("*.py") if p.stem != "__init__"}
    mirrored = {p.stem[len("test_") :] for p in (TESTS / "bench").glob("test_*.py")}
    assert sorted(modules - mirrored - set(BENCH_RUN_BY)) == []
    assert set(BENCH_RUN_BY.values()) <= mirrored


def test_every_name_a_bench_module_imports_from_us_exists():
    """The fast tier's guard for the benchmarks: a module moved or a name renamed in the
    package, the fixtures or bench/ breaks a benchmark's import, found here in a second
    (its tiny run, in the slow tier, would find it too)."""
    missing = []
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_OURS):
                names = [alias.name for alias in node.names]
                missing += [
                    f"{path.name}: {node.module}.{n}" for n in names if not _has(node.module, n)
                ]
            elif isinstance(node, ast.Import):
                missing += [
                    f"{path.name}: {a.name}"
                    for a in node.names
                    if a.name.startswith(_OURS) and importlib.util.find_spec(a.name) is None
                ]
    assert missing == []


def _has(module: str, name: str) -> bool:
    """Whether ``from module import name`` finds something, without running bench/ code
    (each bench module defines its absl flags when imported)."""
    root, _, rest = module.partition(".")
    if root == "bench":
        return (BENCH / f"{name}.py").is_file() if not rest else name in _defined(rest)
    if _is_package(module) and importlib.util.find_spec(f"{module}.{name}") is not None:
        return True
    return hasattr(importlib.import_module(module), name)


def _defined(bench_module: str) -> set[str]:
    """The top-level functions, classes and assigned names of bench/<bench_module>.py."""
    tree = ast.parse((BENCH / f"{bench_module}.py").read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def test_a_slow_mark_takes_a_test_or_a_file_out_of_the_fast_tier(tmp_path):
    """The rule above reads the marks as pytest's ``-m "not slow"`` does."""
    header = "import pytest\nfrom mnist_convnet.training import data\n\n\n"
    (tmp_path / "test_marked.py").write_text(
        header + "@pytest.mark.slow\ndef test_a():\n    pass\n"
    )
    (tmp_path / "test_whole.py").write_text(
        header + "pytestmark = pytest.mark.slow\n\n\ndef test_b():\n    pass\n"
    )
    assert _fast_test_files(tmp_path) == {}
    (tmp_path / "test_fast.py").write_text(header + "def test_c():\n    pass\n")
    assert [_imported(tree) for tree in _fast_test_files(tmp_path).values()] == [
        {"mnist_convnet.training.data"}
    ]


def test_make_test_keeps_a_files_tests_on_one_worker_and_spreads_the_listed_ones(tmp_path):
    """`make test`'s scheduling (tests/conftest.py), run for real on two workers: the tests
    of one file share a worker (its module fixtures are built once), the tests of a file
    in ``SPREAD_OUT`` go out one by one."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(PACKAGE.parent)!r})\n"
        "from tests.conftest import pytest_xdist_make_scheduler  # noqa: F401\n"
    )
    record = (
        "import os, time\n\n\ndef _seen(name):\n"
        "    with open('seen.txt', 'a') as f:\n"
        "        f.write(f\"{__name__} {name} {os.environ['PYTEST_XDIST_WORKER']}\\n\")\n"
        "    time.sleep(0.3)\n"
    )

    def tests(count: int) -> str:
        return "".join(f"\n\ndef test_{i}():\n    _seen({i})\n" for i in range(count))

    (tmp_path / "test_kept.py").write_text(record + tests(6))
    # A name in SPREAD_OUT, with twice the tests: the other worker is free for some of them.
    (tmp_path / "test_loop.py").write_text(record + tests(12))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist=loadscope", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    seen = [line.split() for line in (tmp_path / "seen.txt").read_text().splitlines()]
    workers = {m: {w for name, _, w in seen if name == m} for m in ("test_kept", "test_loop")}
    assert len(workers["test_kept"]) == 1, seen
    assert workers["test_loop"] == {"gw0", "gw1"}, seen


# --- what the suite needs from the system ------------------------------------------------

REPO = PACKAGE.parent


def _tools(folder: Path, present: tuple[str, ...], fonts: str) -> dict[str, str]:
    """A PATH of stand-ins: ``present`` tools exist, fc-list prints ``fonts``, apt-get and
    sudo write what they were asked to a log instead of installing anything."""
    folder.mkdir()
    log = folder / "apt.log"
    scripts = {
        "apt-get": f'#!/bin/sh\necho "$@" >> {log}\n',
        "sudo": '#!/bin/sh\nexec "$@"\n',
        "fc-list": f"#!/bin/sh\nprintf '{fonts}'\n",
        "id": "#!/bin/sh\necho 0\n",
        **{name: "#!/bin/sh\n" for name in present},
    }
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return {"PATH": str(folder), "log": str(log)}


def _system_packages(tools: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("make") or "/usr/bin/make", "-s", "system-packages"],
        cwd=REPO,
        env={"PATH": tools["PATH"], "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_test_commands_install_the_system_packages_they_need(tmp_path):
    """`make test` and `make test-fast` run `make system-packages` first, and so does
    .ci/run: on a fresh machine, without Chromium, its driver, a Chinese font or hey,
    it asks apt-get for all four; with them, it asks for nothing."""
    for target in ("test", "test-fast"):
        dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
        assert "apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei hey" in dry.stdout
    assert "make system-packages" in (REPO / ".ci" / "run").read_text()

    fresh = _tools(tmp_path / "fresh", present=(), fonts="")
    assert _system_packages(fresh).returncode == 0
    asked = Path(fresh["log"]).read_text().splitlines()
    assert asked == ["update -qq", "install -y -qq chromium chromium-driver fonts-wqy-zenhei hey"]

    ready = _tools(
        tmp_path / "ready",
        present=("chromium", "chromedriver", "hey"),
        fonts="/usr/share/fonts/wqy-zenhei.ttc: WenQuanYi Zen Hei:lang=zh-cn\\n",
    )
    assert _system_packages(ready).returncode == 0
    assert not Path(ready["log"]).exists()
