"""model.py: the keras.io architecture, layer for layer, and the logits it is trained by."""

from __future__ import annotations

import keras
import numpy as np

from mnist_convnet.network import model as model_lib


def test_layers_match_keras_io():
    model = model_lib.build_model()
    described = [(type(layer).__name__, layer.output.shape[1:]) for layer in model.layers]
    assert described == [
        ("Conv2D", (26, 26, 32)),
        ("MaxPooling2D", (13, 13, 32)),
        ("Conv2D", (11, 11, 64)),
        ("MaxPooling2D", (5, 5, 64)),
        ("Flatten", (1600,)),
        ("Dropout", (1600,)),
        ("Dense", (10,)),
    ]
    conv1, _, conv2, _, _, dropout, dense = model.layers
    assert conv1.kernel_size == conv2.kernel_size == (3, 3)
    assert conv1.activation is keras.activations.relu is conv2.activation
    assert dropout.rate == 0.5
    assert dense.activation is keras.activations.softmax


def test_parameter_count():
    assert model_lib.build_model().count_params() == 34_826


def test_softmax_of_logits_is_the_model_output():
    model = model_lib.build_model()
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    z = model_lib.logits(model, images, training=False)
    np.testing.assert_allclose(
        keras.ops.softmax(z).numpy(), model(images, training=False).numpy(), atol=1e-6
    )
