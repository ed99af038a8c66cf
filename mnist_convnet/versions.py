"""TF Serving's version-folder layout, known in this one place (no TensorFlow here):

    <base>/1/saved_model.pb
    <base>/2/saved_model.pb      a version: a folder named by a number, holding a SavedModel

``export`` writes the next number (aside, then renamed in: a version appears whole); the
server serves the complete versions its policy wants; ``predict``, ``evaluate`` and the
benchmarks read the latest; a path given by a user may be a base folder or one version.
"""

from __future__ import annotations

import os
from pathlib import Path

from mnist_convnet.errors import UserError

SAVED_MODEL = "saved_model.pb"


def numbers(base: str | os.PathLike) -> list[int]:
    """Every version number under ``base`` (complete or not), ascending."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and p.is_dir())


def complete(base: str | os.PathLike) -> list[int]:
    """The versions whose folder holds a whole SavedModel, ascending."""
    return [n for n in numbers(base) if is_saved_model(Path(base) / str(n))]


def is_saved_model(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is one SavedModel (a version folder), not a base of versions."""
    return (Path(folder) / SAVED_MODEL).is_file()


def next_number(base: str | os.PathLike) -> int:
    """One more than the highest existing version; 1 for an empty or new folder."""
    existing = numbers(base)
    return existing[-1] + 1 if existing else 1


def latest(base: str | os.PathLike) -> Path:
    """The folder of the highest version, which is what TF Serving would load."""
    existing = numbers(base)
    if not existing:
        raise UserError(f"no SavedModel versions (1/, 2/, ...) found in {base}")
    return Path(base) / str(existing[-1])


def resolve(path: str | os.PathLike) -> Path:
    """A SavedModel folder: ``path`` itself, or the latest version inside it."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such file or folder: {path}")
    if is_saved_model(path):
        return path
    if path.is_dir() and numbers(path):
        return latest(path)
    raise UserError(f"{path} is not a SavedModel (no {SAVED_MODEL}) nor a folder of versions")
