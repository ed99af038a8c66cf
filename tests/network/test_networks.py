"""networks.py: each network's entry says what its Keras model really is."""

from __future__ import annotations

import keras
import pytest

from mnist_convnet.network import model
from mnist_convnet.network.networks import NETWORKS
from mnist_convnet.training import config


@pytest.mark.parametrize("name", list(NETWORKS))
def test_each_entry_matches_the_network_it_builds(name):
    built = model.build(name)
    max_pools = any(isinstance(layer, keras.layers.MaxPooling2D) for layer in built.layers)
    assert NETWORKS[name].max_pools == max_pools
    dropouts = [layer for layer in built.layers if isinstance(layer, keras.layers.Dropout)]
    assert NETWORKS[name].dropout == bool(dropouts)
    assert built.name == name
    assert NETWORKS[name].recipe in config.RECIPES


def test_a_dropout_rate_reaches_the_layer_and_is_refused_without_one():
    (layer,) = [
        x for x in model.build("keras_convnet", dropout=0.25).layers if x.name.startswith("dropout")
    ]
    assert layer.rate == 0.25
    with pytest.raises(ValueError, match="lenet5 has no Dropout layer"):
        model.build("lenet5", dropout=0.25)
