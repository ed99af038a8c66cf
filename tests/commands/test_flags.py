"""commands/flags.py: the flags shared by commands, and Config made from the flags."""

from __future__ import annotations

import importlib

import pytest
from absl.testing import flagsaver

from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import UserError
from mnist_convnet.training.config import Config
from tests.helpers import parsed_flags

importlib.import_module("mnist_convnet.commands.train")  # defines the Config flags


def test_checkpoints_live_beside_the_export_folder():
    assert shared.checkpoint_dir_for("saved_models/mnist_convnet") == (
        "saved_models/checkpoints/mnist_convnet"
    )


def test_config_from_flags_resolves_the_recipe_and_checks_bounds():
    flags = parsed_flags()
    with flagsaver.flagsaver(model="lenet5", epochs=2):
        config = shared.config_from_flags(flags)
    assert config == Config(model="lenet5", epochs=2)
    assert (config.batch_size, config.lr_schedule) == (32, "cosine")  # LeNet-5's recipe
    with flagsaver.flagsaver(epochs=0):
        with pytest.raises(UserError, match="epochs must be at least 1, not 0"):
            shared.config_from_flags(flags)
