"""inference.py: what a SavedModel path turns into."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_convnet.errors import UserError
from mnist_convnet.reading import inference


def test_keras_model_rebuilt_from_a_saved_model_has_the_trained_weights(exported, short_run):
    original = short_run[0].model
    rebuilt = inference.load_keras_model(exported.parent)
    assert rebuilt.name == original.name
    assert len(rebuilt.trainable_variables) == len(original.trainable_variables)
    for a, b in zip(rebuilt.trainable_variables, original.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_folder_that_is_not_a_saved_model_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(UserError, match="is not a SavedModel"):
        inference.load_keras_model(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garble", "delete-index"])
def test_a_corrupted_variables_file_is_a_clear_error(exported, tmp_path, damage, data_dir):
    import shutil

    from tests.helpers import run_python

    copy = tmp_path / "model" / "1"
    shutil.copytree(exported, copy)
    data_file = copy / "variables" / "variables.data-00000-of-00001"
    raw = data_file.read_bytes()
    if damage == "truncate":
        data_file.write_bytes(raw[: len(raw) // 3])
    elif damage == "garble":
        data_file.write_bytes(raw[:100] + bytes(255 - b for b in raw[100:]))
    else:
        (copy / "variables" / "variables.index").unlink()
    with pytest.raises(UserError, match=f"cannot load SavedModel {copy}"):
        classify = inference.load_classifier(copy)
        classify(np.zeros((1, 28, 28, 1), np.float32))  # garbled weights load, then fail here?
    if damage != "truncate":
        return  # the command line's handling is the same for all three; check it once
    result = run_python("-m", "mnist_convnet", "evaluate", str(copy), f"--data_dir={data_dir}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"error: cannot load SavedModel {copy}")
    )
