"""The package's own map: every module named in mnist_convnet/__init__.py, every
``module.name`` a docstring or comment points to exists, absl flags only in commands/."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import mnist_convnet

PACKAGE = Path(mnist_convnet.__file__).parent
LIBRARY = sorted(p for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def test_the_package_docstring_lists_every_module():
    listed = set(re.findall(r"^\s+(\w+\.py|\w+/)\s", mnist_convnet.__doc__, re.M))
    present = {p.name for p in LIBRARY} | {"commands/", "serving/"}
    assert listed == present


def test_the_serving_docstring_lists_every_serving_module():
    from mnist_convnet import serving

    listed = set(re.findall(r"^\s*(\w+\.py)\s", serving.__doc__, re.M))
    assert listed == {p.name for p in (PACKAGE / "serving").glob("*.py") if p.name != "__init__.py"}


def test_the_commands_docstring_lists_every_command_module():
    from mnist_convnet import commands

    listed = set(re.findall(r"(\w+\.py)", commands.__doc__))
    present = {p.name for p in (PACKAGE / "commands").glob("*.py") if p.name != "__init__.py"}
    assert listed == present


def test_every_module_reference_in_the_source_resolves():
    """``step.softmax_cross_entropy`` in a docstring must be where it says (it had moved
    to ``backprop``): each ``module.attribute`` quoted in double backquotes is looked up."""
    import dataclasses

    import keras

    from mnist_convnet.config import Config

    modules = {p.stem for p in LIBRARY}
    # ``model.fit`` is Keras' method, ``config.seed`` a field of an instance: not modules.
    instances = {("model", name) for name in dir(keras.Model)}
    instances |= {("config", f.name) for f in dataclasses.fields(Config)}
    stale = []
    for path in [*LIBRARY, *(PACKAGE / "commands").glob("*.py")]:
        for module, attribute in re.findall(r"``(\w+)\.(\w+)[`(]", path.read_text()):
            if module in modules and attribute != "py" and (module, attribute) not in instances:
                target = importlib.import_module(f"mnist_convnet.{module}")
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
