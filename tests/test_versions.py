"""versions.py: TF Serving's version-folder layout, the one place that knows it."""

from __future__ import annotations

import pytest

from mnist_convnet import versions
from mnist_convnet.errors import UserError


def _version(base, number: int, whole: bool = True):
    folder = base / str(number)
    folder.mkdir(parents=True)
    if whole:
        (folder / "saved_model.pb").write_bytes(b"")
    return folder


def test_versions_are_numeric_folders_only(tmp_path):
    for name in ("3", "10", "checkpoints", ".export-x"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert versions.numbers(tmp_path) == [3, 10]
    assert versions.next_number(tmp_path) == 11
    assert versions.next_number(tmp_path / "new") == 1


def test_a_version_is_complete_once_its_saved_model_is_there(tmp_path):
    _version(tmp_path, 1)
    _version(tmp_path, 2, whole=False)  # caught half copied
    assert versions.numbers(tmp_path) == [1, 2] and versions.complete(tmp_path) == [1]
    assert versions.is_saved_model(tmp_path / "1") and not versions.is_saved_model(tmp_path)


def test_latest_version_of_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no SavedModel versions"):
        versions.latest(tmp_path)


def test_a_path_resolves_to_itself_or_its_latest_version(tmp_path):
    one, two = _version(tmp_path, 1), _version(tmp_path, 2)
    assert versions.resolve(one) == one
    assert versions.resolve(tmp_path) == two
    with pytest.raises(UserError, match="no such file or folder"):
        versions.resolve(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a SavedModel"):
        versions.resolve(tmp_path / "empty")
