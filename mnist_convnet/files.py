"""Writing files so that no one ever reads half of one, and failing with one sentence.

A reader (TF Serving polling a folder, a phone app fetching ``reader.tflite``, a user
opening a PNG) must see a file whole or not at all: each is written under a temporary
name beside its target and renamed, which within one file system is atomic; a folder
(a SavedModel version, the decoded copy of MNIST) is filled in a ``staging`` folder
beside it and renamed the same way. A folder we
cannot create or a file we cannot write is a ``UserError`` saying so ("cannot write to
..."), never an OSError traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mnist_convnet.errors import UserError


def cannot_write(path: str | os.PathLike, error: OSError, what: str = "") -> UserError:
    """The one sentence for a place we cannot write: "cannot write to [what ]PATH: why"."""
    return UserError(f"cannot write to {what}{' ' if what else ''}{path}: {error.strerror}")


def writable_dir(path: str | os.PathLike, what: str = "") -> Path:
    """``path`` as a folder that exists (made if needed), or the one clear error."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise cannot_write(folder, error, what) from None
    return folder


def write_whole(path: str | os.PathLike, content: bytes) -> Path:
    """``content`` at ``path``, written under a temporary name and renamed into place."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(content)
        os.replace(partial, path)
    except OSError as error:
        try:
            partial.unlink(missing_ok=True)
        except OSError:  # its folder is not one: there is nothing to clean up
            pass
        raise cannot_write(path, error) from None
    return path


@contextlib.contextmanager
def staging(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A new, empty folder in ``parent`` to fill and then rename into place; whatever is
    left of it (all of it if the rename never came) is removed on the way out. Readable
    by everyone, as the folder it becomes should be (mkdtemp makes it 0700). OSError if
    ``parent`` cannot hold it."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
