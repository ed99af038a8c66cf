"""Where one training step's time goes: each op of keras_convnet's step, timed alone.

    python -m bench.profile_ops            # batch 128, 40 rounds

Every op that a tape step of the default recipe runs on the CPU (forward, and each
gradient the tape asks for) is run on random tensors of the step's shapes, as its own
``tf.function``, round after round in one process, so slow spells of the machine hit all
of them alike; then one whole training step of the real loop on a real-shaped batch, for
comparison; and a hand-written replacement for the costliest memory-bound op, the
max-pool gradient. Prints JSON: each op's fastest and median milliseconds, its share of the sum
of fastest times, and its FLOPs where it has any worth counting.

What it showed (docs/speed.md): half of a step is memory-bound work on the 26×26×32
activations of the first layer (ReLU, max-pooling and its gradient), not convolution
arithmetic: the same kernels ``model.fit`` runs, so no loop around them can be much faster.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

flags.DEFINE_integer("batch_size", 128, "Images per step.")
flags.DEFINE_integer("rounds", 40, "Timed calls of every op.")

_SAME = {"strides": [1, 1, 1, 1], "padding": "VALID"}
_POOL = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}


def _relu_grad(gradient: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    return tf.raw_ops.ReluGrad(gradients=gradient, features=tf.nn.relu(x))


def _ops(b: int) -> dict[str, tuple]:
    """name -> (function, FLOPs or 0) on tensors shaped as in keras_convnet's step."""
    rng = np.random.default_rng(0)

    def t(*shape):
        return tf.constant(rng.standard_normal(shape).astype(np.float32))

    x, w1, w2, wd = t(b, 28, 28, 1), t(3, 3, 1, 32), t(3, 3, 32, 64), t(1600, 10)
    a1, p1, a2, h, dz = t(b, 26, 26, 32), t(b, 13, 13, 32), t(b, 11, 11, 64), t(b, 1600), t(b, 10)
    da1, dp1, da2, dp2 = t(b, 26, 26, 32), t(b, 13, 13, 32), t(b, 11, 11, 64), t(b, 5, 5, 64)
    o1, o2 = tf.nn.max_pool2d(a1, 2, 2, "VALID"), tf.nn.max_pool2d(a2, 2, 2, "VALID")
    conv1_flops, conv2_flops = 2 * b * 26 * 26 * 32 * 9, 2 * b * 11 * 11 * 64 * 9 * 32
    raw = tf.raw_ops
    return {
        "conv1 forward": (lambda: raw.Conv2D(input=x, filter=w1, **_SAME), conv1_flops),
        "conv1 filter gradient": (
            lambda: raw.Conv2DBackpropFilter(
                input=x, filter_sizes=[3, 3, 1, 32], out_backprop=da1, **_SAME
            ),
            conv1_flops,
        ),
        "relu1 forward + gradient": (lambda: _relu_grad(da1, a1), 0),
        "pool1 forward": (lambda: raw.MaxPool(input=a1, **_POOL), 0),
        "pool1 gradient": (
            lambda: raw.MaxPoolGrad(orig_input=a1, orig_output=o1, grad=dp1, **_POOL),
            0,
        ),
        "conv2 forward": (lambda: raw.Conv2D(input=p1, filter=w2, **_SAME), conv2_flops),
        "conv2 filter gradient": (
            lambda: raw.Conv2DBackpropFilter(
                input=p1, filter_sizes=[3, 3, 32, 64], out_backprop=da2, **_SAME
            ),
            conv2_flops,
        ),
        "conv2 input gradient": (
            lambda: raw.Conv2DBackpropInput(
                input_sizes=[b, 13, 13, 32], filter=w2, out_backprop=da2, **_SAME
            ),
            conv2_flops,
        ),
        "relu2 forward + gradient": (lambda: _relu_grad(da2, a2), 0),
        "pool2 forward": (lambda: raw.MaxPool(input=a2, **_POOL), 0),
        "pool2 gradient": (
            lambda: raw.MaxPoolGrad(orig_input=a2, orig_output=o2, grad=dp2, **_POOL),
            0,
        ),
        "dense forward + gradients": (
            lambda: (h @ wd, tf.transpose(h) @ dz, dz @ tf.transpose(wd)),
            3 * 2 * b * 1600 * 10,
        ),
        "bias gradients": (lambda: [tf.reduce_sum(d, [0, 1, 2]) for d in (da1, da2)], 0),
        "dropout mask": (lambda: tf.random.stateless_uniform([b, 1600], seed=[1, 2]) > 0.5, 0),
    }


def _alternatives(b: int) -> dict[str, tuple]:
    """Hand-written replacements for the costliest memory-bound op, timed alongside it."""
    from mnist_convnet.network import backprop

    rng = np.random.default_rng(1)
    a1 = tf.nn.relu(tf.constant(rng.standard_normal((b, 26, 26, 32)).astype(np.float32)))
    dp1 = tf.constant(rng.standard_normal((b, 13, 13, 32)).astype(np.float32))
    return {
        "pool1 gradient, the article's (backprop.max_pool_backward)": (
            lambda: backprop.max_pool_backward(dp1, a1),
            0,
        )
    }


def _whole_step(b: int):
    """One real training step of the loop (tape gradients, Adam) on a random batch."""
    import functools

    import keras

    from mnist_convnet.network import model as model_lib
    from mnist_convnet.training import step

    model = model_lib.build("keras_convnet")
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((b, 28, 28, 1), np.float32))
    labels = tf.constant(rng.integers(0, 10, b))
    train = tf.function(functools.partial(step.train_step, model, optimizer))
    return lambda: train(images, labels)


def main(argv: list[str]) -> None:
    del argv
    tf.config.experimental.enable_op_determinism()  # as the loop runs by default
    b = flags.FLAGS.batch_size
    ops = _ops(b)
    functions = {name: tf.function(fn) for name, (fn, _) in ops.items()}
    alternatives = _alternatives(b)
    functions.update({name: tf.function(fn) for name, (fn, _) in alternatives.items()})
    functions["whole training step"] = _whole_step(b)
    for fn in functions.values():
        fn()  # trace, allocate
    seconds: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(flags.FLAGS.rounds):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()  # eager calls on the CPU return when the op is done
            seconds[name].append(time.perf_counter() - start)
    total = sum(min(s) for name, s in seconds.items() if name in ops)
    report = {}
    for name, s in seconds.items():
        flops = ops[name][1] if name in ops else 0
        report[name] = {
            "fastest_ms": round(1000 * min(s), 3),
            "median_ms": round(1000 * statistics.median(s), 3),
            **({"share_of_sum": round(min(s) / total, 3)} if name in ops else {}),
            **({"gflops": round(flops / min(s) / 1e9, 1)} if flops else {}),
        }
    report["sum of the ops"] = {"fastest_ms": round(1000 * total, 3)}
    print(json.dumps({"batch_size": b, "rounds": flags.FLAGS.rounds, **report}, indent=2))


if __name__ == "__main__":
    app.run(main)
