"""saved_model.py: versioned SavedModels that load without this package and predict the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import fingerprint_pb2, saved_model_pb2
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

from mnist_convnet import versions
from mnist_convnet.export import saved_model
from mnist_convnet.network import model as model_lib
from tests.helpers import run_python

# A child process that imports TensorFlow only: what a serving host has.
LOAD_AND_PREDICT = """
import json, sys
import numpy as np
import tensorflow as tf
assert "mnist_convnet" not in sys.modules
loaded = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])  # float32 [N, 28, 28, 1], k/255
pixels = np.round(images * 255).astype(np.uint8)
by_pixels = loaded.signatures["serving_default"](pixels=tf.constant(pixels))
by_floats = loaded.signatures["serving_float"](images=tf.constant(images))
print(json.dumps({
    "probabilities": by_pixels["probabilities"].numpy().tolist(),
    "classes": by_pixels["classes"].numpy().tolist(),
    "float_probabilities": by_floats["probabilities"].numpy().tolist(),
}))
"""


@pytest.fixture(scope="module")
def trained_like_model():
    keras.utils.set_random_seed(4)
    return model_lib.build_model()


@pytest.fixture(scope="module")
def first_export(trained_like_model, tmp_path_factory) -> Path:
    """Version 1 of the model under a base folder, exported once for this module; tests
    that add versions work on a copy (``_copy``)."""
    return saved_model.export_saved_model(
        trained_like_model, tmp_path_factory.mktemp("base") / "models"
    )


def _copy(first_export: Path, folder: Path) -> Path:
    base = folder / "models"
    shutil.copytree(first_export.parent, base)
    return base


@pytest.mark.slow
def test_export_loads_in_plain_tensorflow_with_same_probabilities(
    tmp_path, trained_like_model, first_export, mnist
):
    images = next(iter(mnist.test.batch(64)))[0].numpy()
    np.save(tmp_path / "images.npy", images)
    version_dir = first_export
    assert version_dir.name == "1" and (version_dir / "saved_model.pb").is_file()

    result = run_python("-c", LOAD_AND_PREDICT, str(version_dir), str(tmp_path / "images.npy"))
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout.strip().splitlines()[-1])
    expected = trained_like_model(images, training=False).numpy()
    assert np.shape(served["probabilities"]) == (64, 10)
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(served["float_probabilities"], expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(served["classes"], np.argmax(expected, axis=-1))


@pytest.mark.slow
def test_second_export_is_the_next_version_and_leaves_no_temporaries(
    tmp_path, trained_like_model, first_export
):
    from mnist_convnet.export import signatures

    base = _copy(first_export, tmp_path)
    finder = (signatures.find_digits, signatures.find_numbers)
    traced = [f.experimental_get_tracing_count() for f in finder]
    second = saved_model.export_saved_model(trained_like_model, base)
    assert second.name == "2"
    # The finder, the same for every model, was traced once by the first export of this
    # process (not again inside its save) and is only called by the second's.
    assert traced == [1, 1]
    assert [f.experimental_get_tracing_count() for f in finder] == traced
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    assert versions.latest(base) == second


@pytest.mark.slow
def test_a_failed_export_leaves_no_version_and_keeps_earlier_ones(
    tmp_path, trained_like_model, first_export, monkeypatch
):
    from mnist_convnet.export import signatures

    base = _copy(first_export, tmp_path)
    real = signatures.build_archive

    class Interrupted(Exception):
        pass

    def failing_archive(model):
        archive = real(model)

        def write_out(path, **kwargs):
            (Path(path) / "variables").mkdir(parents=True)  # part-way through writing
            raise Interrupted

        archive.write_out = write_out
        return archive

    monkeypatch.setattr(signatures, "build_archive", failing_archive)
    with pytest.raises(Interrupted):
        saved_model.export_saved_model(trained_like_model, base)
    assert sorted(p.name for p in base.iterdir()) == ["1"]  # no "2", no temporary folder
    monkeypatch.undo()
    assert versions.latest(base) == base / "1"
    assert saved_model.export_saved_model(trained_like_model, base) == base / "2"


def _constant_keys(saved_model_dir: Path) -> list[list[tuple]]:
    """Per function of a SavedModel: the attributes of each Const node that may be merged."""
    proto = saved_model_pb2.SavedModel.FromString((saved_model_dir / "saved_model.pb").read_bytes())
    return [
        [
            tuple((k, n.attr[k].SerializeToString(deterministic=True)) for k in sorted(n.attr))
            for n in function.node_def
            if n.op == "Const" and not n.device and not any(i.startswith("^") for i in n.input)
        ]
        for function in proto.meta_graphs[0].graph_def.library.function
    ]


def test_an_export_holds_each_constant_once_per_function_and_a_true_fingerprint(exported):
    keys = _constant_keys(exported)
    assert sum(len(k) for k in keys) > 100  # the finder's functions are there
    for function_keys in keys:
        assert len(function_keys) == len(set(function_keys))
    # The fingerprint is a checksum of saved_model.pb, which the merge rewrote.
    written = tf.saved_model.experimental.read_fingerprint(str(exported))
    computed = fingerprint_pb2.FingerprintDef.FromString(
        fingerprinting.CreateFingerprintDef(str(exported))
    )
    assert written.saved_model_checksum == computed.saved_model_checksum


class _Repeats(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def f(self, x):
        a = x * 3.0 + 3.0  # two constants 3.0
        b = a * tf.constant(2.0) * tf.constant(2.0)  # Mul(c, c) once merged
        with tf.control_dependencies([b]):
            c = b + tf.constant(3.0)  # a 3.0 with a control input: kept apart
        return {"y": c - x[:1] - x[:1] + tf.constant([1.0, 2.0])[1:]}


def test_merging_constants_keeps_every_answer(tmp_path):
    folder = tmp_path / "saved"
    module = _Repeats()
    tf.saved_model.save(module, str(folder), signatures={"f": module.f})
    x = tf.constant([1.5, -2.0, 4.0])
    expected = tf.saved_model.load(str(folder)).signatures["f"](x)["y"].numpy()
    before, after = saved_model.merge_duplicate_constants(folder)
    assert after < before
    for function_keys in _constant_keys(folder):
        assert len(function_keys) == len(set(function_keys))
    loaded = tf.saved_model.load(str(folder)).signatures["f"]
    np.testing.assert_array_equal(loaded(x)["y"].numpy(), expected)
    np.testing.assert_array_equal(expected, (x * 3 + 3) * 4 + 3 - 2 * x[0] + 2)
