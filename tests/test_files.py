"""files.py: a file is there whole or not at all; a place we cannot write is one sentence."""

from __future__ import annotations

import pytest

from mnist_convnet import files
from mnist_convnet.errors import UserError


def test_a_file_appears_whole_and_leaves_no_partial(tmp_path):
    target = files.write_whole(files.writable_dir(tmp_path / "a" / "b") / "x.bin", b"123")
    assert target.read_bytes() == b"123"
    files.write_whole(target, b"4567")  # replaced whole
    assert target.read_bytes() == b"4567"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.bin"]


def test_a_file_where_a_folder_should_be_is_one_clear_error(tmp_path):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(UserError, match="cannot write to export dir .*taken"):
        files.writable_dir(tmp_path / "taken" / "inside", "export dir")
    with pytest.raises(UserError, match="cannot write to .*taken"):
        files.write_whole(tmp_path / "taken" / "x.bin", b"1")
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_staged_folder_is_renamed_whole_or_leaves_nothing(tmp_path):
    with files.staging(tmp_path, ".stage-") as staging:
        (staging / "part").write_text("whole")
        assert oct(staging.stat().st_mode & 0o777) == "0o755"
        staging.rename(tmp_path / "done")
    assert [p.name for p in tmp_path.iterdir()] == ["done"]
    with pytest.raises(RuntimeError):
        with files.staging(tmp_path, ".stage-") as staging:
            (staging / "half").write_text("half")
            raise RuntimeError("the disk went away")
    assert [p.name for p in tmp_path.iterdir()] == ["done"]
