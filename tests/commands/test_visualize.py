"""commands/visualize.py in the test process: without a model, one clear error.

tests/test_visualize.py draws every plot, and runs the command as a user does.
"""

from __future__ import annotations

import pytest
from absl.testing import flagsaver

from mnist_convnet.commands import visualize
from tests.helpers import parsed_flags


def test_main_without_a_model_exits_2_naming_the_folder(tmp_path, capsys):
    parsed_flags()
    with flagsaver.flagsaver(model_dir=str(tmp_path / "none"), out_dir=str(tmp_path / "plots")):
        with pytest.raises(SystemExit) as exit_:
            visualize.main(["visualize"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: no such file or folder: {tmp_path / 'none'}"
    assert not (tmp_path / "plots").exists()
