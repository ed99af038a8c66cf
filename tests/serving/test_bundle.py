"""serving/bundle.py: a version as TF Serving loads it, a session over its MetaGraph."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.errors import UserError
from mnist_convnet.serving.bundle import SavedModelBundle


def test_every_signature_answers_as_tf_saved_model_load_does(exported, saved_model, test_digits):
    bundle = SavedModelBundle(exported)
    assert list(bundle.signature_defs) == sorted(saved_model.signatures)  # no __saved_model_init_op
    pixels = test_digits[0][:8]
    ours = bundle.run("serving_default", {"pixels": pixels})
    theirs = saved_model.signatures["serving_default"](pixels=tf.constant(pixels))
    assert set(ours) == set(theirs)
    np.testing.assert_allclose(ours["probabilities"], theirs["probabilities"].numpy(), atol=1e-6)
    np.testing.assert_array_equal(ours["classes"], theirs["classes"].numpy())
    png = tf.io.encode_png(255 - test_digits[0][0][..., None]).numpy()
    read = bundle.run("serving_images", {"images": np.array([png], dtype=object)})
    expected = saved_model.signatures["serving_images"](images=tf.constant([png]))
    np.testing.assert_array_equal(read["classes"], expected["classes"].numpy())


def test_a_version_keeps_few_python_objects_to_free(exported):
    """Why a session (the module's docstring): tf.saved_model.load makes tens of thousands
    of Python objects that only a GIL-holding collection frees; the session a few thousand."""
    gc.collect()
    before = len(gc.get_objects())
    bundle = SavedModelBundle(exported)
    made = len(gc.get_objects()) - before
    assert bundle.signature_defs and made < 10_000, made


def test_a_broken_version_is_one_clear_error(exported, tmp_path):
    version = tmp_path / "1"
    shutil.copytree(exported, version)
    data = next((version / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(UserError, match=r"cannot load SavedModel .*1"):
        SavedModelBundle(version)


def _inter_op_threads() -> int:
    """Threads of this process in TensorFlow's inter-op pools (named "tf_Compute")."""
    tasks = Path("/proc/self/task")
    return sum((t / "comm").read_text().strip() == "tf_Compute" for t in tasks.iterdir())


def test_each_version_runs_on_inter_op_threads_of_its_own(exported):
    """A version's first calls (warm-up) take its inter-op threads for ~1 s each; on one
    process-wide pool they took the serving version's threads too, stalling its requests.
    So a second bundle brings threads of its own, and they go when it closes."""
    pixels = np.zeros((1, 28, 28), np.uint8)
    serving = SavedModelBundle(exported)
    serving.run("serving_default", {"pixels": pixels})
    alone = _inter_op_threads()
    arriving = SavedModelBundle(exported)
    arriving.run("serving_default", {"pixels": pixels})
    assert _inter_op_threads() > alone
    arriving.session.close()
    assert _inter_op_threads() == alone
    serving.session.close()
