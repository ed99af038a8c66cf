"""loop.py: a short real training run learns; the same seed gives the same weights."""

from __future__ import annotations

import dataclasses
import math
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from mnist_convnet.training import checkpoints, loop
from mnist_convnet.training import optimizer as optimizer_lib
from mnist_convnet.training.config import Config
from tests.helpers import assert_same_checkpoints, run_python


def test_short_run_learns(short_run):
    result, _ = short_run
    first, epoch = result.history
    assert epoch["train_loss"] < first["train_loss"]
    assert epoch["train_loss"] < 0.7 * math.log(10)  # an untrained net scores ln 10 ≈ 2.30
    assert epoch["val_loss"] < 0.35
    assert epoch["val_accuracy"] > 0.90
    assert result.test["accuracy"] > 0.90
    # ‖p − y‖ per image falls as the network learns; it starts near √(1 − 2/10 + 1/10) ≈ 0.95.
    assert 0.0 < epoch["val_dlogits_norm"] < epoch["train_dlogits_norm"] < 0.95


@pytest.mark.slow
def test_short_manual_gradient_run_learns(mnist):
    """The same recipe trained by the article's hand-written backprop alone."""
    config = Config(gradients="manual", epochs=1, max_steps_per_epoch=150, seed=0, verbose=False)
    result = loop.train_and_evaluate(config, mnist)
    (epoch,) = result.history
    assert epoch["train_loss"] < 0.7 * math.log(10)
    assert epoch["val_loss"] < 0.35
    assert epoch["val_accuracy"] > 0.90


def test_tensorboard_scalars_are_written(short_run):
    _, folder = short_run
    accumulator = event_accumulator.EventAccumulator(
        str(folder / "logs"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    expected = {"train_loss", "train_accuracy", "train_dlogits_norm", "val_loss", "val_accuracy"}
    assert expected <= tags
    events = accumulator.Tensors("val_accuracy")
    assert [e.step for e in events] == [1, 2] and tf.make_ndarray(events[-1].tensor_proto) > 0.9


def test_checkpoint_restores_the_trained_weights(short_run):
    result, folder = short_run
    restored = checkpoints.restore_model(folder / "ckpt")
    for a, b in zip(result.model.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_recipes_dropout_is_the_rate_the_run_trains_with(mnist):
    config = Config(recipe="fast", epochs=1, max_steps_per_epoch=2, verbose=False)
    trained = loop.train_and_evaluate(config, mnist).model
    rates = [layer.rate for layer in trained.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [config.dropout] and config.dropout != 0.5


def _weights_after(mnist, seed: int) -> list[np.ndarray]:
    config = Config(epochs=2, max_steps_per_epoch=15, seed=seed, verbose=False)
    return [w.numpy() for w in loop.train_and_evaluate(config, mnist).model.weights]


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights(mnist):
    first = _weights_after(mnist, seed=5)
    second = _weights_after(mnist, seed=5)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = _weights_after(mnist, seed=6)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.slow
def test_steps_per_call_changes_nothing_but_speed(mnist, tmp_path):
    # 7 steps an epoch: calls of 1; of 3, 3 and 1; of 7. Same batches, same updates, same
    # metric sums added in the same order: bit-identical weights, Adam state and history.
    config = Config(epochs=2, max_steps_per_epoch=7, verbose=False)
    results = {}
    for steps_per_call in (1, 3, 10):
        results[steps_per_call] = loop.train_and_evaluate(
            dataclasses.replace(config, steps_per_call=steps_per_call),
            mnist,
            checkpoint_dir=str(tmp_path / str(steps_per_call)),
        )
    for steps_per_call in (3, 10):
        assert_same_checkpoints(tmp_path / "1", tmp_path / str(steps_per_call))
        strip = lambda history: [
            {k: v for k, v in r.items() if k != "epoch_seconds"} for r in history
        ]
        assert strip(results[steps_per_call].history) == strip(results[1].history)


def _truncate(path) -> None:
    """A disk that filled up, a copy cut short: the file keeps its first half."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.slow
def test_a_truncated_newest_checkpoint_resumes_from_the_one_before(mnist, tmp_path, caplog):
    """Never a traceback, never a silent start from scratch: the run goes on from the
    newest checkpoint that reads back whole, says so, and ends as an unbroken run does;
    with every checkpoint damaged, one error naming the newest."""
    import logging
    from pathlib import Path

    from mnist_convnet.errors import UserError

    config = Config(epochs=2, max_steps_per_epoch=6, verbose=False)
    loop.train_and_evaluate(config, mnist, checkpoint_dir=str(tmp_path / "whole"))
    damaged = tmp_path / "damaged"
    loop.train_and_evaluate(config, mnist, checkpoint_dir=str(damaged))
    newest = tf.train.latest_checkpoint(str(damaged))
    _truncate(Path(newest + ".data-00000-of-00001"))
    with caplog.at_level(logging.WARNING):
        result = loop.train_and_evaluate(config, mnist, checkpoint_dir=str(damaged))
    assert f"cannot read {newest}" in caplog.text and "resuming from" in caplog.text
    assert [r["epoch"] for r in result.history] == [1, 2]  # epoch 2 trained again
    assert_same_checkpoints(tmp_path / "whole", damaged)
    for data_file in damaged.glob("*.data-*"):
        _truncate(data_file)
    with pytest.raises(UserError, match=f"cannot resume from {newest}: .*--fresh"):
        loop.train_and_evaluate(
            dataclasses.replace(config, epochs=3), mnist, checkpoint_dir=str(damaged)
        )


@pytest.mark.slow
def test_a_newest_checkpoint_holding_the_model_alone_is_passed_over(mnist, tmp_path, caplog):
    """A checkpoint that reads back whole but holds the model alone (no optimizer, no
    place in the run) is not a run to resume: the completeness check passes it over for
    the newest whole one, and the run ends as an unbroken one does."""
    import logging

    config = Config(epochs=2, max_steps_per_epoch=3, verbose=False)
    loop.train_and_evaluate(
        dataclasses.replace(config, epochs=3), mnist, checkpoint_dir=str(tmp_path / "whole")
    )
    ckpt = tmp_path / "ckpt"
    loop.train_and_evaluate(config, mnist, checkpoint_dir=str(ckpt))
    state = tf.train.get_checkpoint_state(str(ckpt))
    alone = str(ckpt / "ckpt-99")
    tf.train.Checkpoint(model=checkpoints.restore_model(ckpt)).write(alone)
    paths = [*state.all_model_checkpoint_paths, alone]
    tf.compat.v1.train.update_checkpoint_state(str(ckpt), alone, all_model_checkpoint_paths=paths)
    with caplog.at_level(logging.WARNING):
        result = loop.train_and_evaluate(
            dataclasses.replace(config, epochs=3), mnist, checkpoint_dir=str(ckpt)
        )
    assert f"cannot read {alone}" in caplog.text and "resuming from" in caplog.text
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    (ckpt / "ckpt-99.index").unlink()  # the stray file aside, the runs' checkpoints agree
    for stray in ckpt.glob("ckpt-99.data-*"):
        stray.unlink()
    assert_same_checkpoints(tmp_path / "whole", ckpt)


# A run in a fresh process (determinism is process-wide and cannot be turned off once on),
# then TensorFlow's own record of the switch (there is no public getter).
_DETERMINISM = """
import sys
from tensorflow.python.framework import config as tf_config
from mnist_convnet.training import data, loop
from mnist_convnet.training.config import Config
settings = dict(epochs=1, max_steps_per_epoch=1, verbose=False)
if sys.argv[2] == "off":
    settings["deterministic"] = False
full = data.load(sys.argv[1], None)  # cut to 256 images a split: the run, not MNIST, is tested
tiny = data.Datasets(full.train.take(256), full.validation.take(256), full.test.take(256),
                     256, 256, 256)
loop.train_and_evaluate(Config(**settings), tiny)
print(tf_config.is_op_determinism_enabled())
"""


@pytest.mark.slow
def test_op_determinism_is_on_unless_turned_off(data_dir):
    """`--seed` makes runs repeatable only because the default turns TF's op determinism
    on: a change that drops the switch (or its default) must fail here."""
    for setting, expected in (("default", "True"), ("off", "False")):
        done = run_python("-c", _DETERMINISM, str(data_dir), setting)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == expected, setting


def test_restoring_a_checkpoint_into_the_wrong_model_is_a_clear_error(short_run):
    from mnist_convnet.errors import UserError

    _, folder = short_run
    with pytest.raises(UserError, match="does not hold a lenet5 model"):
        checkpoints.restore_model(folder / "ckpt", "lenet5")


@pytest.mark.slow
def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(mnist, tmp_path):
    ckpt = tmp_path / "ckpt"
    good = Config(epochs=1, max_steps_per_epoch=3, verbose=False)
    loop.train_and_evaluate(good, mnist, checkpoint_dir=str(ckpt))
    saved = sorted(p.name for p in ckpt.iterdir())
    huge = Config(epochs=2, max_steps_per_epoch=50, learning_rate=1e9, verbose=False)
    named = []
    for steps_per_call in (1, 10):  # the step is found inside a call of several steps too
        with pytest.raises(
            checkpoints.TrainingDiverged, match=r"loss became (nan|inf) at epoch 1, step"
        ) as info:
            loop.train_and_evaluate(
                dataclasses.replace(huge, steps_per_call=steps_per_call),
                mnist,
                checkpoint_dir=str(ckpt),
                fresh=True,
            )
        named.append(str(info.value).split("step ")[1].split(";")[0])
    assert named[0] == named[1]
    assert sorted(p.name for p in ckpt.iterdir()) == saved  # nothing broken was saved
    restored = checkpoints.restore_model(ckpt)
    assert all(np.isfinite(w.numpy()).all() for w in restored.weights)


RESUMABLE = Config(epochs=2, max_steps_per_epoch=12, checkpoint_every_steps=5, verbose=False)


@pytest.mark.slow
def test_stopping_on_a_signal_checkpoints_and_resuming_matches_an_uninterrupted_run(
    mnist, tmp_path
):
    import signal

    from mnist_convnet.training.interrupt import Interrupted

    loop.train_and_evaluate(RESUMABLE, mnist, checkpoint_dir=str(tmp_path / "whole"))

    calls = []

    def stop_at_epoch_2_step_3():  # asked after every call: 3 steps a call, here
        calls.append(1)
        return signal.SIGTERM if len(calls) == 5 + 1 else None  # epoch 1: 3+2, 3+2, 2

    split = dataclasses.replace(RESUMABLE, steps_per_call=3)
    with pytest.raises(
        Interrupted, match=r"signal 15 at epoch 2, step 3; checkpoint saved"
    ) as info:
        loop.train_and_evaluate(
            split,
            mnist,
            checkpoint_dir=str(tmp_path / "split"),
            stop_requested=stop_at_epoch_2_step_3,
        )
    assert info.value.exit_code == 128 + signal.SIGTERM
    assert tf.train.latest_checkpoint(str(tmp_path / "split")).endswith("ckpt-15")

    resumed = loop.train_and_evaluate(RESUMABLE, mnist, checkpoint_dir=str(tmp_path / "split"))
    assert [r["epoch"] for r in resumed.history] == [1, 2]  # epoch 1 came from the checkpoint
    assert_same_checkpoints(tmp_path / "whole", tmp_path / "split")


@pytest.mark.slow
def test_resuming_with_other_flags_is_refused_and_fresh_starts_over(mnist, tmp_path):
    from mnist_convnet.errors import UserError

    ckpt = str(tmp_path / "ckpt")
    loop.train_and_evaluate(
        Config(epochs=1, max_steps_per_epoch=3, verbose=False), mnist, checkpoint_dir=ckpt
    )
    other = Config(epochs=1, max_steps_per_epoch=3, seed=7, verbose=False)
    with pytest.raises(UserError, match=r"from another run .*--fresh"):
        loop.train_and_evaluate(other, mnist, checkpoint_dir=ckpt)
    result = loop.train_and_evaluate(other, mnist, checkpoint_dir=ckpt, fresh=True)
    assert len(result.history) == 1


@pytest.mark.slow
def test_keep_checkpoints_keeps_the_last_k(mnist, tmp_path):
    config = Config(
        epochs=1,
        max_steps_per_epoch=12,
        checkpoint_every_steps=2,
        keep_checkpoints=2,
        verbose=False,
    )
    loop.train_and_evaluate(config, mnist, checkpoint_dir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["ckpt-10.index", "ckpt-12.index"]


@pytest.mark.slow
def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_weights(mnist):
    config = Config(precision="mixed_bfloat16", epochs=1, max_steps_per_epoch=5, verbose=False)
    result = loop.train_and_evaluate(config, mnist)
    conv = result.model.layers[0]
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert np.isfinite(result.history[0]["train_loss"])
    from mnist_convnet.network import model as model_lib

    assert model_lib.build("keras_convnet").layers[0].compute_dtype == "float32"  # policy restored


@pytest.mark.slow
def test_xla_step_gives_the_same_weights_as_the_plain_step(mnist):
    plain = Config(model="lenet5", epochs=1, max_steps_per_epoch=4, verbose=False)
    xla = dataclasses.replace(plain, jit_compile=True)
    for a, b in zip(
        loop.train_and_evaluate(plain, mnist).model.weights,
        loop.train_and_evaluate(xla, mnist).model.weights,
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_manual_gradients_refuse_mixed_precision(mnist):
    from mnist_convnet.errors import UserError

    with pytest.raises(UserError, match="float32 only"):
        loop.train_and_evaluate(
            Config(gradients="manual", precision="mixed_bfloat16", verbose=False), mnist
        )


@pytest.mark.slow
def test_cosine_schedule_decays_the_optimizers_learning_rate_to_zero(mnist):
    """The rate the optimizer actually steps with, after the run's 6 steps: 0 with cosine
    (and 1e-3 with the constant default), not just what a schedule object would say."""
    rates = {}
    for schedule in ("cosine", "constant"):
        config = Config(lr_schedule=schedule, epochs=2, max_steps_per_epoch=3, verbose=False)
        optimizer = loop.train_and_evaluate(config, mnist).optimizer
        assert int(optimizer.iterations) == 6
        rates[schedule] = float(optimizer.learning_rate)
    assert rates["cosine"] == pytest.approx(0.0, abs=1e-12)
    assert rates["constant"] == pytest.approx(1e-3)
    halfway = optimizer_lib.LR_SCHEDULES["cosine"](1e-3, 6)(3)
    assert float(halfway) == pytest.approx(0.5e-3)


def test_xla_with_max_pooling_asks_for_nondeterministic_ops(mnist):
    from mnist_convnet.errors import UserError

    with pytest.raises(UserError, match="--nodeterministic"):
        loop.train_and_evaluate(Config(jit_compile=True, verbose=False), mnist)


def test_on_steps_sees_each_call_with_the_clock_stopped(mnist, monkeypatch):
    """After every call of 3 steps (epochs of 7: calls end at steps 3, 6, 7), ``on_steps``
    gets the epochs done and the training seconds so far; the time it takes is not
    counted. It takes 100 s each time, on the loop's clock (``time.perf_counter`` moved
    on, not slept: the test asserts the same without waiting for it)."""
    seen = []
    offset = [0.0]
    monkeypatch.setattr(
        loop, "time", types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + offset[0])
    )

    def on_steps(epochs, seconds, model):
        seen.append((epochs, seconds))
        offset[0] += 100.0

    config = Config(epochs=2, max_steps_per_epoch=7, steps_per_call=3, verbose=False)
    result = loop.train_and_evaluate(config, mnist, on_steps=on_steps)
    epochs, seconds = zip(*seen)
    assert epochs == pytest.approx([3 / 7, 6 / 7, 1, 1 + 3 / 7, 1 + 6 / 7, 2])
    # Between two calls the clock moved by one call (and across epochs, by the next
    # shuffle buffer filling), never by on_steps' 100 s.
    for earlier, later in zip(range(5), range(1, 6)):
        assert 0 < seconds[later] - seconds[earlier] < 100
    # Six calls of on_steps took 600 s: counted, any one of them would show here.
    assert seconds[-1] <= result.train_seconds < seconds[0] + 100
    assert sum(r["epoch_seconds"] for r in result.history) == pytest.approx(result.train_seconds)
