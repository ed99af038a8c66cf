"""inference.py: what a SavedModel path turns into."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_convnet import inference
from mnist_convnet.errors import UserError


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
