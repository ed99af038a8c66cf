"""Prints how far each hand-written backward in mnist_convnet/network/backprop.py is from autodiff.

    .venv/bin/python docs/gradcheck.py

For every layer type: random float64 inputs, a random upstream gradient dout, our
backward vs tf.GradientTape on TensorFlow's own op; the max relative error
max|ours − tape| / max|tape| of every gradient. The test suite asserts each is ≤ 1e-9.
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from mnist_convnet.network import backprop as bp

rng = np.random.default_rng(0)


def f64(*shape: int) -> tf.Tensor:
    return tf.constant(rng.normal(size=shape))


def tape_vjp(fn, inputs, dout):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = fn(*inputs)
    return tape.gradient(out, inputs, output_gradients=dout)


def rel(ours, ref) -> float:
    return float(np.max(np.abs(np.asarray(ours) - np.asarray(ref))) / np.max(np.abs(ref)))


def main() -> None:
    x, w, b = f64(8, 13, 13, 32), f64(3, 3, 32, 64), f64(64)
    dout = f64(8, 11, 11, 64)
    conv = lambda x, w, b: tf.nn.conv2d(x, w, 1, "VALID") + b
    ref = tape_vjp(conv, [x, w, b], dout)
    ours = bp.conv2d_backward(dout, x, w)
    report = {f"conv2d d{n}": rel(o, r) for n, o, r in zip(("image", "filter", "bias"), ours, ref)}

    x11, d5 = f64(8, 11, 11, 64), f64(8, 5, 5, 64)
    for name, ours_bw, op in [
        ("max_pool", bp.max_pool_backward, tf.nn.max_pool2d),
        ("avg_pool", bp.avg_pool_backward, tf.nn.avg_pool2d),
    ]:
        (ref,) = tape_vjp(lambda x, op=op: op(x, 2, 2, "VALID"), [x11], d5)
        report[f"{name} dimage"] = rel(ours_bw(d5, x11), ref)

    for name, fw, bw, op in [
        ("relu", bp.relu_forward, bp.relu_backward, tf.nn.relu),
        ("tanh", bp.tanh_forward, bp.tanh_backward, tf.tanh),
    ]:
        (ref,) = tape_vjp(op, [x11], x11 * 0.5)
        report[f"{name} dx"] = rel(bw(x11 * 0.5, fw(x11)), ref)

    h, wd, bd, dz = f64(8, 1600), f64(1600, 10), f64(10), f64(8, 10)
    ref = tape_vjp(lambda h, w, b: tf.matmul(h, w) + b, [h, wd, bd], dz)
    for n, o, r in zip(("h", "W", "b"), bp.dense_backward(dz, h, wd), ref):
        report[f"dense d{n}"] = rel(o, r)

    z, labels = f64(8, 10) * 5, tf.constant(rng.integers(0, 10, 8))
    loss_fn = lambda z: tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=z)
    )
    (ref,) = tape_vjp(loss_fn, [z], None)
    report["softmax_cross_entropy dz"] = rel(bp.softmax_cross_entropy(z, labels)[1], ref)
    print(json.dumps({k: float(f"{v:.2e}") for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
