"""mnist-convnet export: a SavedModel from a training run's checkpoints.

Run as a user runs it, in a child process: its flags (``--model``, ``--checkpoint_dir``)
are also the train command's, so the two cannot share one test process. Exporting real
checkpoints is tested end to end in test_train.py (train, then export again).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_python


def test_no_checkpoints_is_one_clear_error_and_nothing_is_exported(tmp_path):
    (tmp_path / "ckpt").mkdir()
    result = run_python(
        "-m",
        "mnist_convnet",
        "export",
        f"--checkpoint_dir={tmp_path / 'ckpt'}",
        f"--export_dir={tmp_path / 'export'}",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert str(tmp_path / "ckpt") in result.stderr
    assert not (tmp_path / "export").exists()


@pytest.mark.slow
def test_export_dir_finds_its_own_runs_checkpoints_and_network(mnist, tmp_path):
    """`export --export_dir=runs/a` exports run a, whose checkpoints `train --export_dir=runs/a`
    put in runs/checkpoints/a — not the default run's (here a LeNet-5), and with the network
    its checkpoint records, whatever a --model flag would have said."""
    import numpy as np
    import tensorflow as tf

    from mnist_convnet.training import checkpoints, data, loop
    from mnist_convnet.training.config import Config

    tiny = dict(epochs=1, max_steps_per_epoch=2, verbose=False)
    decoy = tmp_path / "saved_models" / "checkpoints" / "mnist_convnet"
    loop.train_and_evaluate(Config(model="lenet5", **tiny), mnist, checkpoint_dir=str(decoy))
    run_a = tmp_path / "runs" / "checkpoints" / "a"
    loop.train_and_evaluate(Config(seed=1, **tiny), mnist, checkpoint_dir=str(run_a))
    result = run_python("-m", "mnist_convnet", "export", "--export_dir=runs/a", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    images, _ = data.as_numpy(mnist.test, 20)
    exported = tf.saved_model.load(str(tmp_path / "runs" / "a" / "1"))
    got = exported.signatures["serving_float"](images=tf.constant(images))["probabilities"]
    expected = checkpoints.restore_model(run_a)(images, training=False)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected), atol=1e-6)


@pytest.mark.slow  # two short trainings and an export: ~17 s
def test_a_damaged_newest_checkpoint_exports_the_one_before_as_train_resumes(mnist, tmp_path):
    """export follows train's rule (checkpoints.restore_newest_whole): a truncated newest
    checkpoint is passed over, with a warning, for the newest that reads back whole; with
    none whole, one error line naming the newest, exit 2, and nothing exported."""
    import numpy as np
    import tensorflow as tf

    from mnist_convnet.network import model as model_lib
    from mnist_convnet.training import checkpoints, data, loop
    from mnist_convnet.training.config import Config

    ckpt = tmp_path / "ckpt"
    config = Config(epochs=2, max_steps_per_epoch=2, verbose=False)
    loop.train_and_evaluate(config, mnist, checkpoint_dir=str(ckpt))
    newest = tf.train.latest_checkpoint(str(ckpt))
    older = tf.train.get_checkpoint_state(str(ckpt)).all_model_checkpoint_paths[-2]
    images, _ = data.as_numpy(mnist.test, 8)
    from_newest = checkpoints.restore_model(ckpt)(images, training=False)
    from_older = model_lib.build("keras_convnet")
    tf.train.Checkpoint(model=from_older).restore(older).expect_partial()
    data_file = Path(newest + ".data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])

    export = ["-m", "mnist_convnet", "export", f"--checkpoint_dir={ckpt}"]
    done = run_python(*export, f"--export_dir={tmp_path / 'export'}")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"cannot read {newest}" in done.stderr and f"exporting from {older}" in done.stderr
    exported = tf.saved_model.load(str(tmp_path / "export" / "1"))
    got = exported.signatures["serving_float"](images=tf.constant(images))["probabilities"]
    np.testing.assert_allclose(got.numpy(), from_older(images, training=False), atol=1e-6)
    assert not np.allclose(got.numpy(), from_newest, atol=1e-6)

    for path in ckpt.glob("*.data-*"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    failed = run_python(*export, f"--export_dir={tmp_path / 'again'}")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot export from {newest}") and "older" in last
    assert not (tmp_path / "again").exists()
