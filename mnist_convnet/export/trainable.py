"""trainable.tflite: a classifier a phone can teach its user's handwriting, in builtin ops.

TensorFlow's on-device training guide exports ``train``, ``infer``, ``save`` and
``restore`` signatures and lets an app fine-tune the model on the user's own examples.
Its recipe differentiates with the tape and saves with ``tf.raw_ops.Save``, both Select TF
ops; this file needs none, because what it learns is the method of
``training/personalize.py`` written out by hand:

    infer(images)                       -> probabilities
    train(images, labels, learning_rate) -> loss        STEPS steps of gradient descent
    save()                              -> kernel, bias  the Dense layer, for the app to keep
    restore(kernel, bias)               -> kernel, bias  put it back (a fresh start: the
                                                         values ``save`` gave first)
    infer_one(images)                   -> probabilities  ``infer`` of [1, 28, 28, 1]
    train_slots(images, labels, learning_rate) -> loss  ``train`` of [SLOTS, 28, 28, 1]

The last two are for runtimes that take fixed shapes only (LiteRT.js, the page): the same
functions on one image, and on SLOTS examples of which those labelled ``EMPTY`` are
left out — every call of ``train`` skips such rows, as if they were not sent.

``images`` are float32 [B, 28, 28, 1] in [0, 1], white on black: what ``reader.tflite``'s
``image`` output gives (divided by 255). The convolutions are frozen into constants; the
Dense layer's weights are resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE).
A train call computes the features of the user's digits once, beside those of REPLAY
MNIST training digits stored in the file, and runs STEPS steps of

    ∂L/∂z = (softmax(z) − y) / B,   W ← W − η hᵀ ∂L/∂z,   b ← b − η Σ_rows ∂L/∂z

in one WHILE loop (rows labelled EMPTY weigh 0, B counts the others): the writer is learned
without forgetting MNIST's writers.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from mnist_convnet import contract, files
from mnist_convnet.network.model import NUM_CLASSES, features

FILE = "trainable.tflite"
STEPS = 200  # training/personalize.py's defaults: 200 steps ...
REPLAY = 512  # ... beside MNIST digits (here a fixed set, stored as their features) ...
LEARNING_RATE = 1.0  # ... of this size: what an app passes to train
SLOTS = 64  # train_slots' examples: ten digits, six times each, and room to correct
EMPTY = -1  # the label of a slot with no example in it
# Its inputs are named as the SavedModel's: images as serving_float takes them, the step
# size as :explain's.
_IMAGES_NAME = contract.INPUTS[contract.SERVING_FLOAT]
IMAGES = tf.TensorSpec([None, 28, 28, 1], tf.float32, name=_IMAGES_NAME)
_RATE = contract.EXPLAIN_INPUTS[2]


def _train_spec(rows: int | None) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec([rows, 28, 28, 1], tf.float32, name=_IMAGES_NAME),
        tf.TensorSpec([rows], tf.int32, name="labels"),
        tf.TensorSpec([], tf.float32, name=_RATE),
    ]


class Trainable(tf.Module):
    """The four signatures over one Keras model's weights (see above)."""

    def __init__(self, model: keras.Model, replay_images: np.ndarray, replay_labels: np.ndarray):
        super().__init__()
        body = tf.function(lambda x: features(model, x, False)).get_concrete_function(IMAGES)
        self._body = convert_variables_to_constants_v2(body)  # the convolutions, frozen
        head = model.layers[-1]
        self.kernel = tf.Variable(head.kernel.numpy(), name="kernel")
        self.bias = tf.Variable(head.bias.numpy(), name="bias")
        replay = tf.constant(np.asarray(replay_images, np.float32))
        self._replay_h = tf.constant(self._body(replay)[0].numpy())
        self._replay_y = tf.constant(np.eye(NUM_CLASSES, dtype=np.float32)[replay_labels])

    @tf.function(input_signature=[IMAGES])
    def infer(self, images):
        return self._infer(images)

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32, name=_IMAGES_NAME)])
    def infer_one(self, images):
        return self._infer(images)

    @tf.function(input_signature=_train_spec(None))
    def train(self, images, labels, learning_rate):
        return self._train(images, labels, learning_rate)

    @tf.function(input_signature=_train_spec(SLOTS))
    def train_slots(self, images, labels, learning_rate):
        return self._train(images, labels, learning_rate)

    def _infer(self, images):
        h = self._body(images)[0]
        return {"probabilities": tf.nn.softmax(tf.matmul(h, self.kernel) + self.bias)}

    def _train(self, images, labels, learning_rate):
        h = tf.concat([self._body(images)[0], self._replay_h], 0)
        y = tf.concat([tf.one_hot(labels, NUM_CLASSES), self._replay_y], 0)  # EMPTY: zeros
        sent = tf.cast(tf.not_equal(labels, EMPTY), tf.float32)
        weight = tf.concat([sent, tf.ones([self._replay_h.shape[0]])], 0)[:, None]
        rows = tf.reduce_sum(weight)

        def step(i):
            p = tf.nn.softmax(tf.matmul(h, self.kernel) + self.bias)
            dz = weight * (p - y) / rows
            self.kernel.assign_sub(learning_rate * tf.matmul(h, dz, transpose_a=True))
            self.bias.assign_sub(learning_rate * tf.reduce_sum(dz, 0))
            return (i + 1,)

        # The loss is of the layer taught, computed after the loop: an output of the WHILE
        # itself is a dynamic tensor, which LiteRT.js cannot hand out a second time.
        done = tf.while_loop(lambda i: i < STEPS, step, (tf.constant(0),))
        with tf.control_dependencies(done):
            p = tf.nn.softmax(tf.matmul(h, self.kernel.read_value()) + self.bias.read_value())
        return {"loss": -tf.reduce_sum(y * tf.math.log(p + 1e-9)) / rows}

    @tf.function(input_signature=[])
    def save(self):
        return {"kernel": tf.identity(self.kernel), "bias": tf.identity(self.bias)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([1600, NUM_CLASSES], tf.float32, name="kernel"),
            tf.TensorSpec([NUM_CLASSES], tf.float32, name="bias"),
        ]
    )
    def restore(self, kernel, bias):
        self.kernel.assign(kernel)
        self.bias.assign(bias)
        return self.save()


def convert(model: keras.Model, replay_images: np.ndarray, replay_labels: np.ndarray) -> bytes:
    """trainable.tflite of ``model`` (the keras.io network), builtin ops only."""
    module = Trainable(model, replay_images[:REPLAY], replay_labels[:REPLAY])
    functions = [
        module.infer,
        module.train,
        module.save,
        module.restore,
        module.infer_one,
        module.train_slots,
    ]
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [f.get_concrete_function() for f in functions], module
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.experimental_enable_resource_variables = True
    return converter.convert()


def write(
    model: keras.Model,
    replay_images: np.ndarray,
    replay_labels: np.ndarray,
    out_dir: str | os.PathLike,
) -> Path:
    """Writes ``out_dir``/trainable.tflite whole; returns its path."""
    content = convert(model, replay_images, replay_labels)
    return files.write_whole(files.writable_dir(out_dir) / FILE, content)
