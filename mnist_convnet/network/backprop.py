"""The article's backpropagation, layer by layer, as forward/backward function pairs.

Every layer the package's models use has a ``*_forward`` that computes its output and a
``*_backward`` that takes ∂L/∂output and returns ∂L/∂input (and the gradients of its
weights). Shapes are NHWC — [batch, height, width, channels] — and every function is
vectorised over the batch with TensorFlow ops: no Python loop ever visits a pixel.

Notation (the article's): an image or feature map ``x``, a filter ``w``, an output ``out``;
``dout`` is ∂L/∂out, the gradient arriving from the layer above. Each backward function is
the chain rule ∂L/∂x = Σ ∂L/∂out · ∂out/∂x written out for that layer.

``loss_gradients`` chains them through a whole Keras model, reading the layers' weights,
so ``--gradients=manual`` trains the real model on these derivations alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import tensorflow as tf

from mnist_convnet.network.deslant import Deslant, shear_matrices
from mnist_convnet.network.model import NUM_CLASSES

# --- softmax + cross-entropy: the article's equations (1)-(4) ---------------------------


def softmax_cross_entropy(
    z: tf.Tensor, labels: tf.Tensor, batch_size: tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean cross-entropy of softmax(z) and its derivative with respect to z.

    For one image with logits z, true class c and one-hot label y:

        (1)  p_i = e^{z_i} / Σ_j e^{z_j}                          softmax
        (2)  L   = −Σ_i y_i ln p_i = −ln p_c                       cross-entropy
        (3)  ∂p_i/∂z_j = p_i (δ_ij − p_j)                          softmax Jacobian
        (4)  ∂L/∂z_j = Σ_i (−y_i / p_i) · p_i (δ_ij − p_j)
                     = −y_j + p_j Σ_i y_i = p_j − y_j               since Σ_i y_i = 1

    For a batch of B rows, L = (1/B) Σ_b −ln p_{b,c_b}; row b reaches L only through its
    own z_b, so ∂L/∂z_b = (p_b − y_b) / B.

    Under ``tf.distribute`` each replica holds part of the batch and the optimizer sums
    the replicas' gradients, so each divides by the *global* batch (``batch_size``);
    by default B is the rows of ``z``.

    ln p is computed as z − logsumexp(z) (``tf.nn.log_softmax``), which stays finite for
    logits in the thousands where ``ln(softmax(z))`` would give −inf.

    Args:
      z: logits, float [B, 10].
      labels: true classes, int [B].
      batch_size: the B to average over, if not the rows of ``z``.

    Returns:
      ``(L, ∂L/∂z)``: a scalar and a [B, 10] tensor of z's dtype.
    """
    y = tf.one_hot(labels, depth=NUM_CLASSES, dtype=z.dtype)
    p = tf.nn.softmax(z)  # (1)
    batch = tf.cast(tf.shape(z)[0] if batch_size is None else batch_size, z.dtype)
    loss = -tf.reduce_sum(y * tf.nn.log_softmax(z)) / batch  # (2), averaged over the batch
    dL_dz = (p - y) / batch  # (4), averaged over the batch
    return loss, dL_dz


# --- fully connected: the article's equations (5)-(8) -----------------------------------


def dense_forward(h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """(5) z_j = Σ_i h_i w_ij + b_j, i.e. z = h W + b for a batch of rows h [B, n_in]."""
    return tf.matmul(h, w) + b


def dense_backward(
    dz: tf.Tensor, h: tf.Tensor, w: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Gradients of z = h W + b, given dz = ∂L/∂z [B, n_out].

        (6) ∂L/∂w_ij = Σ_b h_bi · ∂L/∂z_bj       ∂L/∂W = hᵀ dz     (∂z_j/∂w_ij = h_i)
        (7) ∂L/∂b_j  = Σ_b ∂L/∂z_bj                                 (∂z_j/∂b_j  = 1)
        (8) ∂L/∂h_i  = Σ_j w_ij · ∂L/∂z_j         ∂L/∂h = dz Wᵀ     (∂z_j/∂h_i  = w_ij)

    Returns ``(∂L/∂h, ∂L/∂W, ∂L/∂b)``.
    """
    return (
        tf.matmul(dz, w, transpose_b=True),
        tf.matmul(h, dz, transpose_a=True),
        tf.reduce_sum(dz, 0),
    )


# --- convolution: the article's equation (9) --------------------------------------------


def _patches(x: tf.Tensor, kh: int, kw: int) -> tf.Tensor:
    """Every kh×kw window of x, flattened (row, column, channel): [B, H−kh+1, W−kw+1, kh·kw·C]."""
    return tf.image.extract_patches(
        x, sizes=[1, kh, kw, 1], strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="VALID"
    )


def conv2d_forward(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | None = None) -> tf.Tensor:
    """Valid convolution, stride 1, as CNNs (and the article) define it — a cross-correlation:

        out(i, j, k) = Σ_x Σ_y Σ_c image(i+x, j+y, c) · filter(x, y, c, k)  + bias(k)

    for a filter w [kh, kw, C_in, C_out]; the output is [B, H−kh+1, W−kw+1, C_out]. Each
    output pixel is one window of the image multiplied element-wise with the filter and
    summed, so all windows at once ("im2col") are a single matrix product.
    """
    kh, kw, c_in, c_out = w.shape
    windows = _patches(x, kh, kw)
    out = tf.tensordot(windows, tf.reshape(w, [kh * kw * c_in, c_out]), axes=1)
    return out if b is None else out + b


def conv2d_backward(
    dout: tf.Tensor, x: tf.Tensor, w: tf.Tensor, input_grad: bool = True
) -> tuple[tf.Tensor | None, tf.Tensor, tf.Tensor]:
    """Gradients of ``conv2d_forward``, given dout = ∂L/∂out [B, OH, OW, C_out].

    Filters (eq. 9): each filter weight touched every output pixel, through the image
    pixel under it:

        ∂L/∂filter(x, y, c, k) = Σ_b Σ_i Σ_j ∂L/∂out(b, i, j, k) · image(b, i+x, j+y, c)

    — the windows of the image, weighted by dout: one matrix product, windowsᵀ · dout.

    Bias: ∂L/∂bias(k) = Σ_b Σ_i Σ_j ∂L/∂out(b, i, j, k).

    Input: image(p, q) contributed to out(p−x, q−y) through filter(x, y), so

        ∂L/∂image(p, q, c) = Σ_x Σ_y Σ_k ∂L/∂out(p−x, q−y, k) · filter(x, y, c, k)

    which is a *full* convolution: pad dout with kh−1 / kw−1 zeros all round, then
    cross-correlate with the filter rotated by 180° and its channel axes swapped.
    The first layer's input is the image itself and needs no gradient (``input_grad``).

    Returns ``(∂L/∂image or None, ∂L/∂filter, ∂L/∂bias)``.
    """
    kh, kw, c_in, c_out = w.shape
    windows = tf.reshape(_patches(x, kh, kw), [-1, kh * kw * c_in])
    dw = tf.reshape(tf.matmul(windows, tf.reshape(dout, [-1, c_out]), transpose_a=True), w.shape)
    db = tf.reduce_sum(dout, axis=[0, 1, 2])
    dx = None
    if input_grad:
        padded = tf.pad(dout, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]])
        rotated = tf.transpose(tf.reverse(w, axis=[0, 1]), [0, 1, 3, 2])  # [kh, kw, C_out, C_in]
        dx = conv2d_forward(padded, rotated)
    return dx, dw, db


def pad_forward(x: tf.Tensor, pad: int) -> tf.Tensor:
    """'Same'-style zero padding: ``pad`` rows/columns of zeros on every side of each map."""
    return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])


def pad_backward(dout: tf.Tensor, pad: int) -> tf.Tensor:
    """The padded zeros are constants: the gradient of the original pixels is the centre."""
    return dout[:, pad : dout.shape[1] - pad, pad : dout.shape[2] - pad, :]


def rescale_forward(x: tf.Tensor, scale: float | tf.Tensor, offset: float | tf.Tensor) -> tf.Tensor:
    """An affine map of the pixels, out = scale · x + offset (LeNet-5's input normalisation)."""
    return x * scale + offset


def rescale_backward(dout: tf.Tensor, scale: float | tf.Tensor) -> tf.Tensor:
    """∂out/∂x = scale; the offset is a constant."""
    return dout * scale


# --- activations -------------------------------------------------------------------------


def relu_forward(x: tf.Tensor) -> tf.Tensor:
    """ReLU(x) = max(0, x)."""
    return tf.maximum(x, 0)


def relu_backward(dout: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
    """ReLU'(x) = 1 where x > 0, else 0 (at exactly 0 we take 0, as TensorFlow does)."""
    return dout * tf.cast(out > 0, dout.dtype)


def tanh_forward(x: tf.Tensor) -> tf.Tensor:
    """tanh(x), LeNet-5's squashing function (the paper scales it by 1.7159; we do not)."""
    return tf.tanh(x)


def tanh_backward(dout: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
    """tanh'(x) = 1 − tanh²(x), written with the forward output: dout · (1 − out²)."""
    return dout * (1 - out * out)


# --- pooling -----------------------------------------------------------------------------


def _windows_2x2(x: tf.Tensor) -> tf.Tensor:
    """Non-overlapping 2×2 windows [B, H//2, W//2, C, 4] in row-major order
    (top-left, top-right, bottom-left, bottom-right). An odd last row/column is dropped,
    as 'valid' pooling does (11×11 → 5×5)."""
    b, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2, :]
    x = tf.reshape(x, [-1, h // 2, 2, w // 2, 2, c])
    return tf.reshape(tf.transpose(x, [0, 1, 3, 5, 2, 4]), [-1, h // 2, w // 2, c, 4])


def _unwindow_2x2(windows: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Inverse of ``_windows_2x2``, with zeros for a dropped odd row/column."""
    _, h, w, c = like.shape
    x = tf.reshape(windows, [-1, h // 2, w // 2, c, 2, 2])
    x = tf.reshape(tf.transpose(x, [0, 1, 4, 2, 5, 3]), [-1, h // 2 * 2, w // 2 * 2, c])
    return tf.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]])


def max_pool_forward(x: tf.Tensor) -> tf.Tensor:
    """2×2 max-pooling, stride 2: out(i, j) = max of image(2i..2i+1, 2j..2j+1)."""
    return tf.reduce_max(_windows_2x2(x), axis=-1)


def max_pool_backward(dout: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """∂out/∂image is 1 at the position of each window's maximum and 0 elsewhere, so the
    gradient of every output goes back to where its max came from, and nowhere else.

    Tie rule: when several pixels of a window share the maximum, the gradient goes to the
    first of them in row-major order (top-left, top-right, bottom-left, bottom-right) —
    the pixel TensorFlow's own MaxPoolGrad picks — and the others get 0.
    """
    windows = _windows_2x2(x)
    is_max = tf.cast(windows == tf.reduce_max(windows, axis=-1, keepdims=True), tf.int32)
    first = tf.logical_and(is_max == 1, tf.cumsum(is_max, axis=-1) == 1)
    routed = tf.cast(first, dout.dtype) * dout[..., tf.newaxis]
    return _unwindow_2x2(routed, x)


def avg_pool_forward(x: tf.Tensor) -> tf.Tensor:
    """2×2 average pooling, stride 2 (LeNet-5's subsampling without its trainable scale)."""
    return tf.reduce_mean(_windows_2x2(x), axis=-1)


def avg_pool_backward(dout: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """Each of the 4 pixels contributed 1/4 of the mean: each gets dout / 4."""
    return _unwindow_2x2(tf.repeat(dout[..., tf.newaxis], 4, axis=-1) / 4, x)


# --- reshaping and dropout ---------------------------------------------------------------


def flatten_forward(x: tf.Tensor) -> tf.Tensor:
    """[B, H, W, C] → [B, H·W·C] in row-major order, as Keras' Flatten does."""
    return tf.reshape(x, [-1, x.shape[1] * x.shape[2] * x.shape[3]])


def flatten_backward(dout: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """Flattening moves numbers without changing them: reshape the gradient back."""
    return tf.reshape(dout, [-1, *x.shape[1:]])


def dropout_forward(x: tf.Tensor, scaled_mask: tf.Tensor) -> tf.Tensor:
    """Inverted dropout: out = x · m / (1 − rate), with m ∈ {0, 1} drawn per unit.
    ``scaled_mask`` is m / (1 − rate), so the expected output equals x."""
    return x * scaled_mask


def dropout_backward(dout: tf.Tensor, scaled_mask: tf.Tensor) -> tf.Tensor:
    """A dropped unit passes no gradient; a kept one passes it scaled by 1 / (1 − rate)."""
    return dout * scaled_mask


# --- a whole Keras model -----------------------------------------------------------------

_ACTIVATIONS: dict[Any, tuple[Callable, Callable]] = {
    keras.activations.relu: (relu_forward, relu_backward),
    keras.activations.tanh: (tanh_forward, tanh_backward),
}


def _activation(layer: keras.layers.Layer) -> tuple[Callable, Callable] | None:
    activation = layer.activation
    if activation is keras.activations.linear:
        return None
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{layer.name}: no hand-written backward for {activation.__name__}")
    return _ACTIVATIONS[activation]


def _weight(variable, weights: Mapping[str, tf.Tensor] | None) -> tf.Tensor:
    """A layer's weight, or the tensor ``weights`` holds in its place (by variable path)."""
    return variable if weights is None else weights.get(variable.path, variable)


def deslant_backward(dout: tf.Tensor, shear: tf.Tensor) -> tf.Tensor:
    """The deslant layer backward: out[y] = W[y] · in[y], so ∂L/∂in[y] = W[y]ᵀ · ∂L/∂out[y].

    W is taken as this image's fixed shear: how the slant s itself moves with each pixel
    is left out (no weight lies below this first layer; for ∂L/∂x it is the image's own
    shear undone, which is what the page shows)."""
    return tf.matmul(shear, tf.cast(dout, tf.float32), transpose_a=True)


def layer_forward(
    layer: keras.layers.Layer,
    h: tf.Tensor,
    training: bool,
    last: bool,
    weights: Mapping[str, tf.Tensor] | None = None,
):
    """One layer forward with our functions; returns (output, what its backward needs).

    ``weights`` (variable path -> tensor) replaces the layer's own weights, so a caller can
    run the network with W − η ∂L/∂W without assigning to the served variables.
    """
    if isinstance(layer, Deslant):
        shear = shear_matrices(tf.cast(h, tf.float32))
        return tf.matmul(shear, tf.cast(h, tf.float32)), shear
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        if not top == bottom == left == right:
            raise ValueError(f"{layer.name}: only symmetric padding is supported")
        return pad_forward(h, top), top
    if isinstance(layer, keras.layers.Rescaling):
        # The constants as the layer itself casts them (1.275 becomes float32's nearest
        # value even in a float64 model), so that both paths compute the same numbers.
        scale, offset = (keras.ops.cast(c, h.dtype) for c in (layer.scale, layer.offset))
        return rescale_forward(h, scale, offset), scale
    if isinstance(layer, keras.layers.Conv2D):
        if layer.strides != (1, 1) or layer.padding != "valid" or layer.dilation_rate != (1, 1):
            raise ValueError(f"{layer.name}: only valid, stride-1 convolutions are supported")
        out = conv2d_forward(h, _weight(layer.kernel, weights), _weight(layer.bias, weights))
        act = _activation(layer)
        out_act = act[0](out) if act else out
        return out_act, (h, out_act, act)
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        if layer.pool_size != (2, 2) or layer.strides != (2, 2) or layer.padding != "valid":
            raise ValueError(f"{layer.name}: only 2x2, stride-2, valid pooling is supported")
        if isinstance(layer, keras.layers.MaxPooling2D):
            return max_pool_forward(h), ("max", h)
        return avg_pool_forward(h), ("avg", h)
    if isinstance(layer, keras.layers.Flatten):
        return flatten_forward(h), h
    if isinstance(layer, keras.layers.Dropout):
        if not training or layer.rate == 0:
            return h, None
        # Ask the Keras layer for its mask (dropout of ones = m / (1 − rate)): the same
        # random numbers the tape mode would draw, from the same seed generator.
        scaled_mask = layer(tf.ones_like(h), training=True)
        return dropout_forward(h, scaled_mask), scaled_mask
    if isinstance(layer, keras.layers.Dense):
        out = dense_forward(h, _weight(layer.kernel, weights), _weight(layer.bias, weights))
        if last:
            if layer.activation is not keras.activations.softmax:
                raise ValueError(f"{layer.name}: the last layer must be Dense with softmax")
            return out, (h, None, None)  # logits z; the softmax lives in the loss
        act = _activation(layer)
        out_act = act[0](out) if act else out
        return out_act, (h, out_act, act)
    raise ValueError(f"no hand-written backward for layer {layer.name} ({type(layer).__name__})")


def layer_backward(
    layer: keras.layers.Layer,
    dout: tf.Tensor,
    cache,
    first: bool,
    weights: Mapping[str, tf.Tensor] | None = None,
):
    """One layer backward; returns (∂L/∂input or None, {variable path: gradient}).

    ``first`` skips ∂L/∂input where nothing below needs it; ``weights`` as in
    ``layer_forward`` (the ones that forward pass used)."""
    if isinstance(layer, Deslant):
        return deslant_backward(dout, cache), {}
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return pad_backward(dout, cache), {}
    if isinstance(layer, keras.layers.Rescaling):
        return rescale_backward(dout, cache), {}
    if isinstance(layer, keras.layers.Conv2D):
        x, out_act, act = cache
        if act:
            dout = act[1](dout, out_act)
        kernel = _weight(layer.kernel, weights)
        dx, dw, db = conv2d_backward(dout, x, kernel, input_grad=not first)
        return dx, {layer.kernel.path: dw, layer.bias.path: db}
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        kind, x = cache
        return (max_pool_backward if kind == "max" else avg_pool_backward)(dout, x), {}
    if isinstance(layer, keras.layers.Flatten):
        return flatten_backward(dout, cache), {}
    if isinstance(layer, keras.layers.Dropout):
        return (dout if cache is None else dropout_backward(dout, cache)), {}
    if isinstance(layer, keras.layers.Dense):
        h, out_act, act = cache
        if act:
            dout = act[1](dout, out_act)
        dh, dw, db = dense_backward(dout, h, _weight(layer.kernel, weights))
        return dh, {layer.kernel.path: dw, layer.bias.path: db}
    raise AssertionError(layer)


def loss_gradients(
    model: keras.Sequential,
    images: tf.Tensor,
    labels: tf.Tensor,
    training: bool = True,
    batch_size: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]:
    """The whole network's gradients from the functions above; no GradientTape anywhere.

    Forward through every layer keeping what each backward needs, form ∂L/∂z with
    equations (1)–(4), then walk the layers in reverse, each turning ∂L/∂output into
    ∂L/∂input and its own weight gradients.

    Returns ``(z, L, ∂L/∂z, [∂L/∂w for w in model.trainable_variables])``, the same
    contract as ``step.tape_gradients``.
    """
    layers = model.layers
    caches = []
    h = images
    for i, layer in enumerate(layers):
        h, cache = layer_forward(layer, h, training, last=i == len(layers) - 1)
        caches.append(cache)
    z = h
    loss, dL_dz = softmax_cross_entropy(z, labels, batch_size)

    # The input gradient is needed only where some trainable layer lies below.
    below = [any(layer.trainable_weights for layer in layers[:i]) for i in range(len(layers))]
    grads: dict[str, tf.Tensor] = {}
    d = dL_dz
    for i in reversed(range(len(layers))):
        d, layer_grads = layer_backward(layers[i], d, caches[i], first=not below[i])
        grads.update(layer_grads)
        if not below[i]:
            break
    return z, loss, dL_dz, [grads[v.path] for v in model.trainable_variables]
