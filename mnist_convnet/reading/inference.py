"""Loading a trained classifier from a path, whatever kind of file it is.

    a SavedModel version folder      saved_models/mnist_convnet/3
    a SavedModel base folder         saved_models/mnist_convnet   (its latest version)
    a TF Lite file                   saved_models/mnist_convnet_tflite/3/int8.tflite
    a Keras file                     model.keras

Every kind becomes the same callable: float images [N, 28, 28, 1] in [0, 1] ->
probabilities [N, 10], so evaluation and prediction never care which it was.
``load_keras_model`` goes further and rebuilds the Keras model of a SavedModel, layer by
layer, for what needs the layers themselves (filters, feature maps).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from mnist_convnet import contract, versions
from mnist_convnet.errors import UserError, first_line

Classifier = Callable[[np.ndarray], np.ndarray]


def load_saved_model(path: str | os.PathLike):
    """``tf.saved_model.load`` with one clear error for a broken or foreign SavedModel."""
    folder = versions.resolve(path)
    try:
        loaded = tf.saved_model.load(str(folder))
    # A truncated variables file surfaces as IndexError, a missing piece as KeyError.
    except (OSError, ValueError, IndexError, KeyError, tf.errors.OpError) as error:
        raise UserError(f"cannot load SavedModel {folder}: {first_line(error)}") from None
    if contract.SERVING_DEFAULT not in loaded.signatures:
        raise UserError(f"SavedModel {folder} has no serving_default signature")
    return loaded


def load_classifier(path: str | os.PathLike, batch_size: int = 1000) -> Classifier:
    """A function from float images [N, 28, 28, 1] to probabilities [N, 10]."""
    path = Path(path)
    if path.suffix == ".tflite":
        if not path.is_file():
            raise UserError(f"no such file: {path}")
        from mnist_convnet.reading.litert import LiteModel

        try:
            lite = LiteModel(path)
        except (ValueError, RuntimeError) as error:
            raise UserError(f"cannot load TF Lite model {path}: {error}") from None
        run = lite.predict
    elif path.suffix == ".keras":
        import keras

        if not path.is_file():
            raise UserError(f"no such file: {path}")
        model = keras.saving.load_model(path)
        run = lambda x: model.predict(x, verbose=0)
    else:
        return saved_model_classifier(load_saved_model(path), path, batch_size)
    return _batched(run, batch_size)


def saved_model_classifier(loaded, path: str | os.PathLike, batch_size: int = 1000) -> Classifier:
    """``load_classifier`` for a SavedModel already loaded (from ``path``, for the error)."""
    signature = loaded.signatures.get(contract.SERVING_FLOAT)
    if signature is None:
        raise UserError(f"{path} has no serving_float signature (exported by an older version?)")
    return _batched(
        lambda x: signature(images=tf.constant(x, tf.float32))["probabilities"].numpy(), batch_size
    )


def _batched(run, batch_size: int) -> Classifier:
    """``run`` over ``batch_size`` images at a time: memory stays flat for 10,000 images."""

    def classify(images: np.ndarray) -> np.ndarray:
        parts = [run(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)

    return classify


def _deslants(loaded, network: str) -> bool:
    """Whether a SavedModel's network starts with a ``Deslant`` layer. The layer has no
    weights to tell by; its ops' name scope (``keras_convnet_1/deslant_1/...``) does."""
    graph = loaded.signatures[contract.SERVING_FLOAT].graph.as_graph_def()
    return any(
        node.name.startswith(network) and "/deslant" in node.name
        for function in graph.library.function
        for node in function.node_def
    )


def load_keras_model(path: str | os.PathLike):
    """The Keras model a SavedModel was exported from, its layers back and its weights in.

    A SavedModel keeps the weights but not the Python layers. Its variable names start
    with the model's name (``keras_convnet/conv2d/kernel``), so we build that network
    from ``model.MODELS`` and copy the weights across in order, checking every shape.
    """
    from mnist_convnet.network import model as model_lib

    loaded = load_saved_model(path)
    source = list(loaded.trainable_variables)
    names = {v.name.split("/")[0] for v in source}
    if len(names) != 1 or next(iter(names)) not in model_lib.MODELS:
        raise UserError(
            f"{path}: cannot tell which of {sorted(model_lib.MODELS)} this SavedModel holds"
        )
    name = names.pop()
    model = model_lib.build(name, deslant=_deslants(loaded, name))
    target = model.trainable_variables
    if [tuple(v.shape) for v in target] != [tuple(v.shape) for v in source]:
        raise UserError(f"{path}: its weights do not fit a freshly built {model.name}")
    for t, s in zip(target, source):
        t.assign(s)
    return model
