"""trainable.tflite: driven in LiteRT's interpreter exactly as an app drives it — infer,
train on the user's digits, save, restore — in builtin ops only."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from mnist_convnet.export import tflite, trainable
from mnist_convnet.reading import inference
from mnist_convnet.training import data


@pytest.fixture(scope="module")
def model(exported):
    return inference.load_keras_model(exported)


@pytest.fixture(scope="module")
def flatbuffer(model, mnist):
    images, labels = data.as_numpy(mnist.train, trainable.REPLAY)
    return trainable.convert(model, images, labels)


def _runners(flatbuffer: bytes) -> dict:
    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    return {n: interpreter.get_signature_runner(n) for n in SIGNATURES}


SIGNATURES = ("infer", "train", "save", "restore", "infer_one", "train_slots")


def test_builtin_ops_only_and_the_signatures(flatbuffer):
    ops = tflite.op_names(flatbuffer)
    assert not any(op.startswith("CUSTOM") for op in ops), ops
    assert {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "WHILE"} <= ops
    assert set(Interpreter(model_content=flatbuffer).get_signature_list()) == set(SIGNATURES)


def test_infer_reads_as_the_keras_model_does(flatbuffer, model, test_digits):
    pixels, _ = test_digits
    images = pixels[:64].astype(np.float32)[..., None] / 255
    probabilities = _runners(flatbuffer)["infer"](images=images)["probabilities"]
    np.testing.assert_allclose(probabilities, model.predict(images, verbose=0), atol=1e-4)


def test_train_teaches_new_labels_and_restore_undoes_it(flatbuffer, test_digits):
    """Eight test digits taught as the label after their own: a train call reads them so,
    the loss falls, the other test digits mostly keep their answers (MNIST is replayed),
    and restoring what save gave first answers exactly as before."""
    pixels, labels = test_digits
    images = pixels[:200].astype(np.float32)[..., None] / 255
    run = _runners(flatbuffer)
    before = run["infer"](images=images)["probabilities"]
    first = run["save"]()
    taught = ((labels[:8] + 1) % 10).astype(np.int32)
    loss = run["train"](images=images[:8], labels=taught, learning_rate=np.float32(1.0))["loss"]
    after = run["infer"](images=images)["probabilities"].argmax(1)
    assert float(loss) < 0.5
    assert (after[:8] == taught).mean() >= 0.75
    assert (after[8:] == before[8:].argmax(1)).mean() >= 0.9
    run["restore"](kernel=first["kernel"], bias=first["bias"])
    np.testing.assert_array_equal(run["infer"](images=images)["probabilities"], before)


def test_the_fixed_shape_signatures_are_the_same_functions(flatbuffer, test_digits):
    """A runtime of fixed shapes (LiteRT.js) reads one image with infer_one and teaches
    with train_slots, its empty slots labelled EMPTY: the same numbers as infer and train
    on the examples alone. Every shape of infer_one and train_slots is fixed."""
    pixels, labels = test_digits
    images = pixels[:8].astype(np.float32)[..., None] / 255
    taught = ((labels[:8] + 1) % 10).astype(np.int32)
    run = _runners(flatbuffer)
    for name in ("infer_one", "train_slots"):
        for detail in run[name].get_input_details().values():
            assert -1 not in detail["shape_signature"], (name, detail)
    one = run["infer_one"](images=images[:1])["probabilities"]
    np.testing.assert_allclose(one, run["infer"](images=images[:1])["probabilities"], atol=1e-6)
    first = run["save"]()
    rate = np.float32(1.0)
    loss = run["train"](images=images, labels=taught, learning_rate=rate)["loss"]
    taught_alone = run["save"]()
    run["restore"](**first)
    slots = np.zeros((trainable.SLOTS, 28, 28, 1), np.float32)
    slots[:8], slot_labels = images, np.full(trainable.SLOTS, trainable.EMPTY, np.int32)
    slot_labels[:8] = taught
    slot_loss = run["train_slots"](images=slots, labels=slot_labels, learning_rate=rate)["loss"]
    np.testing.assert_allclose(slot_loss, loss, rtol=1e-5)
    for name, value in run["save"]().items():
        np.testing.assert_allclose(value, taught_alone[name], atol=1e-5)


def test_a_file_is_written_whole(model, mnist, tmp_path):
    images, labels = data.as_numpy(mnist.train, 16)
    path = trainable.write(model, images, labels, tmp_path / "out")
    assert path.name == trainable.FILE and path.stat().st_size > 100_000
    assert [p.name for p in path.parent.iterdir()] == [trainable.FILE]
    assert tf.lite.Interpreter(model_path=str(path)).get_signature_list()["train"]
