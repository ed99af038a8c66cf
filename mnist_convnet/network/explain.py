"""One digit through the network and back: every layer's arrays, forward and backward.

The article teaches how a network learns from one image: the forward pass, the loss
L = −ln p_label, its derivative ∂L/∂z = p − y (equation 4 of ``docs/backprop.md``), and
that derivative's way back through every layer to the weights and to the image. This
module runs exactly that with ``backprop.py``'s hand-written functions — no
GradientTape — in inference mode (dropout passes everything), and returns every array
on the way, so the page's "inside the network" panel can draw them for the learner's own
digit. It also takes one gradient-descent step W ← W − η ∂L/∂W on a copy of the weights
and reports the loss after it: the served variables are never assigned.

``explain`` is the body of the SavedModel's ``serving_explain`` signature
(``signatures.py``); ``mnist-convnet serve`` answers it at ``:explain``.

Outputs, per image (``b`` below is the batch axis; layer ``i`` counts from 0):

    label            int64 []        the class explained (the prediction when asked -1)
    loss             float32 []      −ln p_label                                (2)
    loss_after_step  float32 []      the same loss after one step of size η on a copy
    probabilities    float32 [10]    softmax(z)                                 (1)
    dL_dz            float32 [10]    p − y                                      (4)
    dL_dx            float32 [28, 28] ∂L/∂image, the image in [0, 1]
    layer_names, layer_kinds  string [layers]  each layer's Keras name and class
    layer<i>/output, layer<i>/dL_doutput      its output and ∂L/∂output
    layer<i>/dL_dkernel, layer<i>/dL_dbias    for layers with weights: ∂L/∂W, ∂L/∂b
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mnist_convnet.network import backprop
from mnist_convnet.network.model import IMAGE_SHAPE, NUM_CLASSES


def _weights(layer: keras.layers.Layer) -> dict[str, keras.Variable]:
    """The weights whose gradients are shown, by their short name (kernel, bias)."""
    return {name: getattr(layer, name) for name in ("kernel", "bias") if hasattr(layer, name)}


def output_spec(model: keras.Sequential) -> dict[str, tf.TensorSpec]:
    """The shape and type of each of ``explain_one``'s outputs (what ``tf.map_fn`` needs)."""
    spec = {
        "label": tf.TensorSpec([], tf.int64),
        "loss": tf.TensorSpec([], tf.float32),
        "loss_after_step": tf.TensorSpec([], tf.float32),
        "probabilities": tf.TensorSpec([NUM_CLASSES], tf.float32),
        "dL_dz": tf.TensorSpec([NUM_CLASSES], tf.float32),
        "dL_dx": tf.TensorSpec(IMAGE_SHAPE[:2], tf.float32),
        "layer_names": tf.TensorSpec([len(model.layers)], tf.string),
        "layer_kinds": tf.TensorSpec([len(model.layers)], tf.string),
    }
    shape = (1, *IMAGE_SHAPE)
    for i, layer in enumerate(model.layers):
        shape = layer.compute_output_shape(shape)
        for what in ("output", "dL_doutput"):
            spec[f"layer{i}/{what}"] = tf.TensorSpec(shape[1:], tf.float32)
        for name, variable in _weights(layer).items():
            spec[f"layer{i}/dL_d{name}"] = tf.TensorSpec(variable.shape, tf.float32)
    return spec


def forward(model: keras.Sequential, x: tf.Tensor, weights=None) -> tuple[list, list]:
    """Every layer's output and what its backward needs, with ``backprop``'s functions."""
    outputs, caches = [], []
    h = x
    for i, layer in enumerate(model.layers):
        h, cache = backprop.layer_forward(
            layer, h, training=False, last=i == len(model.layers) - 1, weights=weights
        )
        outputs.append(h)
        caches.append(cache)
    return outputs, caches


def explain_one(
    model: keras.Sequential, image: tf.Tensor, label: tf.Tensor, learning_rate: tf.Tensor
) -> dict[str, tf.Tensor]:
    """The forward and backward pass of one image [28, 28, 1] (see the module's doc)."""
    x = image[tf.newaxis]
    outputs, caches = forward(model, x)
    z = outputs[-1]  # the last Dense layer's logits: its softmax lives in the loss
    probabilities = tf.nn.softmax(z)[0]  # (1)
    label = tf.where(label < 0, tf.argmax(probabilities), tf.cast(label, tf.int64))
    loss, dL_dz = backprop.softmax_cross_entropy(z, label[tf.newaxis])  # (2), (4)

    result = {"label": label, "loss": loss, "probabilities": probabilities, "dL_dz": dL_dz[0]}
    grads: dict[str, tf.Tensor] = {}
    d = dL_dz
    for i in reversed(range(len(model.layers))):
        layer = model.layers[i]
        result[f"layer{i}/output"] = outputs[i][0]
        result[f"layer{i}/dL_doutput"] = d[0]
        d, layer_grads = backprop.layer_backward(layer, d, caches[i], first=False)
        grads.update(layer_grads)
        for name, variable in _weights(layer).items():
            result[f"layer{i}/dL_d{name}"] = layer_grads[variable.path]
    result["dL_dx"] = d[0, :, :, 0]

    # One step of gradient descent on a copy: W ← W − η ∂L/∂W, then the loss again.
    stepped = {v.path: v - learning_rate * grads[v.path] for v in model.trainable_variables}
    z_after = forward(model, x, weights=stepped)[0][-1]
    result["loss_after_step"] = backprop.softmax_cross_entropy(z_after, label[tf.newaxis])[0]
    result["layer_names"] = tf.constant([layer.name for layer in model.layers])
    result["layer_kinds"] = tf.constant([type(layer).__name__ for layer in model.layers])
    return result


def explain(
    model: keras.Sequential, images: tf.Tensor, labels: tf.Tensor, learning_rates: tf.Tensor
) -> dict[str, tf.Tensor]:
    """``explain_one`` for each image of a batch: images float32 [B, 28, 28, 1] in [0, 1],
    labels int64 [B] (-1, ``contract.PREDICTED``: the model's answer), learning_rates
    float32 [B].

    One image at a time, because each has its own weight gradients (a batch's backward
    pass would sum them)."""
    return tf.map_fn(
        lambda args: explain_one(model, *args),
        (images, labels, learning_rates),
        fn_output_signature=output_spec(model),
    )
