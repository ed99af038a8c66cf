"""config.py: every default in one place, recipes per network, the same rules for all."""

from __future__ import annotations

import dataclasses

import pytest

from mnist_convnet.errors import UserError
from mnist_convnet.network.networks import NETWORKS
from mnist_convnet.training import config as config_lib
from mnist_convnet.training.config import RECIPES, Config


def test_the_default_is_the_keras_io_recipe():
    config = Config()
    assert config.recipe == "keras.io"
    assert (config.epochs, config.batch_size, config.learning_rate, config.lr_schedule) == (
        15,
        128,
        1e-3,
        "constant",
    )


def test_each_network_has_its_own_default_recipe():
    assert Config(model="lenet5").recipe == "lenet5"
    lenet5 = Config(model="lenet5")
    assert (lenet5.batch_size, lenet5.lr_schedule) == (32, "cosine")
    assert Config(model="article").recipe == "keras.io"
    assert {network.recipe for network in NETWORKS.values()} <= set(RECIPES)


def test_explicit_settings_override_the_recipe():
    config = Config(model="lenet5", batch_size=64)
    assert (config.batch_size, config.lr_schedule) == (64, "cosine")
    fast = Config(recipe="fast", epochs=15)
    assert fast.epochs == 15
    assert fast.learning_rate == RECIPES["fast"]["learning_rate"]


def test_a_recipe_sets_every_setting_it_names():
    for name, settings in RECIPES.items():
        config = Config(recipe=name)
        assert {k: getattr(config, k) for k in settings} == settings


def test_the_fingerprint_holds_the_resolved_settings():
    """Resuming with the recipe spelled out, or left to the default, is the same run."""
    spelled = Config(model="lenet5", batch_size=32, lr_schedule="cosine", recipe="lenet5")
    assert Config(model="lenet5").fingerprint() == spelled.fingerprint()
    assert (
        Config(model="lenet5").fingerprint() != Config(model="lenet5", batch_size=64).fingerprint()
    )


def test_a_config_is_frozen_and_replace_checks_again():
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(UserError, match="unknown|must be one of"):
        dataclasses.replace(config, recipe="slow")


def test_cross_field_rules():
    with pytest.raises(UserError, match="float32 only"):
        Config(gradients="manual", precision="mixed_bfloat16")
    with pytest.raises(UserError, match="--nodeterministic"):
        Config(jit_compile=True)
    assert Config(jit_compile=True, deterministic=False).jit_compile
    assert Config(model="lenet5", jit_compile=True).jit_compile  # no max-pooling in LeNet-5


def test_adam_beta_2_comes_from_the_recipe_and_is_checked():
    assert Config().adam_beta_2 == 0.999  # Keras' default: the keras.io recipe unchanged
    assert Config(recipe="fast").adam_beta_2 == RECIPES["fast"]["adam_beta_2"]
    assert Config(recipe="fast", adam_beta_2=0.95).adam_beta_2 == 0.95
    for bad in (0.0, 1.0):
        with pytest.raises(UserError, match="adam_beta_2 must be"):
            Config(adam_beta_2=bad)


def test_checkpoints_from_before_adam_beta_2_existed_still_resume():
    """At the value every earlier run used, the new field stays out of the fingerprint, so
    the fingerprints of those runs' checkpoints still match; any other value is in it."""
    assert "adam_beta_2" not in Config().fingerprint()
    assert '"adam_beta_2": 0.99' in Config(adam_beta_2=0.99).fingerprint()


def test_dropout_comes_from_the_recipe_only_for_networks_that_have_one():
    assert Config().dropout == 0.5  # keras.io's rate: `make train` unchanged
    assert Config(recipe="fast").dropout == RECIPES["fast"]["dropout"]
    assert Config(recipe="fast", dropout=0.0).dropout == 0.0
    assert Config(model="lenet5").dropout is None  # nothing to set: no Dropout layer
    assert Config(model="article").dropout is None  # the keras.io recipe's rate skipped
    with pytest.raises(UserError, match="model=lenet5 has no Dropout layer"):
        Config(model="lenet5", dropout=0.3)
    for bad in (-0.1, 1.0):
        with pytest.raises(UserError, match="dropout must be"):
            Config(dropout=bad)


def test_checkpoints_from_before_dropout_was_a_setting_still_resume():
    """Every earlier run trained keras_convnet at 0.5 and the others without dropout: those
    fingerprints are unchanged; another rate is a different run."""
    assert "dropout" not in Config().fingerprint()
    assert "dropout" not in Config(model="lenet5").fingerprint()
    assert '"dropout": 0.25' in Config(dropout=0.25).fingerprint()


def test_the_augmented_recipe_augments_and_every_earlier_run_still_resumes():
    """keras.io, fast and lenet5 train on MNIST as it is (augment 0, out of the fingerprint:
    their checkpoints resume); the augmented recipe changes every batch, a different run."""
    assert Config().augment == 0.0 and "augment" not in Config().fingerprint()
    assert Config(recipe="fast").augment == 0.0 and Config(model="lenet5").augment == 0.0
    augmented = Config(recipe="augmented")
    assert augmented.augment == 1.0 and '"augment": 1.0' in augmented.fingerprint()
    assert '"augment": 0.5' in Config(augment=0.5).fingerprint()
    with pytest.raises(UserError, match="augment must be"):
        Config(augment=-1)


def test_a_python_run_resumes_its_command_line_twin():
    """`--learning_rate=1` makes 1.0; Config(learning_rate=1) must fingerprint the same, or
    the Python API's run could never resume the CLI's (and the other way round)."""
    from_python = Config(learning_rate=1, epochs=3)
    assert type(from_python.learning_rate) is float
    assert from_python.fingerprint() == Config(learning_rate=1.0, epochs=3).fingerprint()


def test_the_name_lists_config_offers_are_the_ones_the_training_code_has():
    from mnist_convnet.training import config, optimizer, step

    assert config.GRADIENT_MODES == tuple(step.GRADIENTS)
    assert config.LR_SCHEDULE_NAMES == tuple(optimizer.LR_SCHEDULES)


def test_config_needs_no_tensorflow():
    """What --help reads: the settings, the networks' entries, the recipes."""
    import subprocess
    import sys

    code = "import sys, mnist_convnet.training.config; "
    code += "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout == "False False\n", run.stderr


def test_an_augmented_run_resumes_only_under_the_augmentation_it_was_trained_with(monkeypatch):
    """The augmentation's revision is in an augmented run's fingerprint (a checkpoint of
    an older augment.py is another run), and out of a run without augmentation."""
    augmented = Config(augment=1.0).fingerprint()
    assert f'"augment_revision": {config_lib.AUGMENT_REVISION}' in augmented
    assert "augment_revision" not in Config().fingerprint()
    monkeypatch.setattr(config_lib, "AUGMENT_REVISION", config_lib.AUGMENT_REVISION + 1)
    assert Config(augment=1.0).fingerprint() != augmented
