"""Versioned SavedModels in TF Serving's layout, written so no one sees half of one.

    <export_dir>/          the model base path TF Serving is pointed at
      1/ 2/ 3/ ...         one SavedModel per export; the server loads the highest

A new version is written with Keras 3's ``ExportArchive`` (what ``model.export`` uses,
here with the signatures of ``signatures.py``) into a hidden temporary folder
beside the target and renamed to its number only once complete: a rename within one
file system is atomic, so a server polling ``<export_dir>`` sees either no new version or
a whole one. An existing version is never overwritten. Each version carries TF Serving's
warm-up file (``assets.extra/tf_serving_warmup_requests``, ``serving/warmup.py``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras

from mnist_convnet import files, signatures
from mnist_convnet.errors import UserError
from mnist_convnet.serving import warmup


def versions(export_dir: str | os.PathLike) -> list[int]:
    """The version numbers present under ``export_dir``, ascending."""
    base = Path(export_dir)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and p.is_dir())


def next_version(export_dir: str | os.PathLike) -> int:
    """One more than the highest existing version; 1 for an empty or new folder."""
    existing = versions(export_dir)
    return existing[-1] + 1 if existing else 1


def latest_version_dir(export_dir: str | os.PathLike) -> Path:
    """The folder of the highest version, which is what TF Serving would load."""
    existing = versions(export_dir)
    if not existing:
        raise UserError(f"no SavedModel versions (1/, 2/, ...) found in {export_dir}")
    return Path(export_dir) / str(existing[-1])


def export_saved_model(model: keras.Model, export_dir: str | os.PathLike) -> Path:
    """Exports ``model`` as the next version under ``export_dir``; returns its folder.

    Signatures (see ``signatures.py``): ``serving_default`` takes uint8 pixels,
    ``serving_images`` encoded photos/scans/drawings of one digit, ``serving_number``
    the same of a row of digits, ``serving_float`` float32 images in [0, 1].
    """
    base = files.writable_dir(export_dir, "export dir")
    try:
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=base))
    except OSError as error:
        raise UserError(f"cannot write to export dir {base}: {error.strerror}") from None
    try:
        with signatures.function_calls_optimised_once():
            archive = signatures.build_archive(model)
            archive.write_out(str(staging / "saved_model"), verbose=False)
        warmup.write(staging / "saved_model")  # before the rename: it appears with the rest
        while True:
            target = base / str(next_version(base))
            try:
                os.rename(staging / "saved_model", target)  # fails if target exists
                return target
            except OSError:
                if not target.exists():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
