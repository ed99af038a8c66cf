"""networks.py: each network's entry says what its Keras model really is."""

from __future__ import annotations

import keras
import pytest

from mnist_convnet import config, model
from mnist_convnet.networks import NETWORKS


@pytest.mark.parametrize("name", list(NETWORKS))
def test_each_entry_matches_the_network_it_builds(name):
    built = model.build(name)
    max_pools = any(isinstance(layer, keras.layers.MaxPooling2D) for layer in built.layers)
    assert NETWORKS[name].max_pools == max_pools
    assert built.name == name
    assert NETWORKS[name].recipe in config.RECIPES
