"""The package's own map: every folder and shared module named in mnist_convnet/__init__.py,
every module in its folder's ``__init__``, one module per name, every ``module.name`` a
docstring or comment points to exists, absl flags only in commands/."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import mnist_convnet

PACKAGE = Path(mnist_convnet.__file__).parent
SHARED = sorted(p for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
FOLDERS = sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
# Every library module (all but the command line), by its name: a name is one module.
LIBRARY = SHARED + [
    p for folder in FOLDERS if folder.name != "commands" for p in sorted(folder.glob("[!_]*.py"))
]


def _dotted(path: Path) -> str:
    return "mnist_convnet." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def test_the_package_docstring_lists_every_folder_and_shared_module():
    listed = set(re.findall(r"^\s+(\w+\.py|\w+/)\s", mnist_convnet.__doc__, re.M))
    assert listed == {p.name for p in SHARED} | {f"{f.name}/" for f in FOLDERS}


@pytest.mark.parametrize("folder", [f.name for f in FOLDERS])
def test_each_folders_docstring_lists_its_modules(folder):
    package = importlib.import_module(f"mnist_convnet.{folder}")
    listed = set(re.findall(r"(\w+\.py)", package.__doc__))
    assert listed == {p.name for p in (PACKAGE / folder).glob("[!_]*.py")}


def test_a_module_name_says_one_module():
    names = [p.stem for p in LIBRARY]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_every_module_reference_in_the_source_resolves():
    """``step.softmax_cross_entropy`` in a docstring must be where it says (it had moved
    to ``backprop``): each ``module.attribute`` quoted in double backquotes is looked up."""
    import dataclasses

    import keras

    from mnist_convnet.training.config import Config

    modules = {p.stem: _dotted(p) for p in LIBRARY}
    # ``model.fit`` is Keras' method, ``config.seed`` a field of an instance: not modules.
    instances = {("model", name) for name in dir(keras.Model)}
    instances |= {("config", f.name) for f in dataclasses.fields(Config)}
    stale = []
    for path in [*LIBRARY, *(PACKAGE / "commands").glob("*.py")]:
        for module, attribute in re.findall(r"``(\w+)\.(\w+)[`(]", path.read_text()):
            if module not in modules or attribute in ("py", "pb", "tflite"):  # file names
                continue
            if (module, attribute) not in instances:
                target = importlib.import_module(modules[module])
                value = getattr(target, attribute, None)
                # Defined there, not just imported there.
                home = getattr(value, "__module__", target.__name__) if value is not None else None
                if home != target.__name__:
                    stale.append(f"{path.name}: {module}.{attribute}")
    assert stale == []


def test_the_library_imports_no_absl_flags_and_leaves_the_log_level_alone():
    for path in LIBRARY:
        text = path.read_text()
        assert not re.search(r"from absl import .*\bflags\b|absl\.flags", text), path.name
        assert "TF_CPP_MIN_LOG_LEVEL" not in text, path.name
