"""How the finder refuses: an InvalidArgument op carrying a sentence, and the sentence
read back from the error (``error_message``: what the server and ``predict`` print).

The shared core never raises (TF Lite has no exceptions): it returns a status. The
SavedModel's entry points turn a status other than FOUND into ``raise_unless_found``'s
InvalidArgumentError; TF Serving and our REST server answer it with HTTP 400.
"""

from __future__ import annotations

import re

import tensorflow as tf

from mnist_convnet.contract import FOUND, MAX_DIGITS, REASONS, TOO_MANY
from mnist_convnet.errors import first_line


def require(condition: tf.Tensor, message: str | tf.Tensor) -> tf.Operation:
    """An op raising InvalidArgumentError("assertion failed: [message]") if not condition."""
    return tf.debugging.Assert(condition, [message], name="require")


def error_message(error: tf.errors.OpError) -> str:
    """The sentence of a refusal from this graph (or the first line of any other error)."""
    text = (error.message or "").strip()
    found = re.search(r"assertion failed: \[(.*?)\]", text)  # in a graph
    found = found or re.search(r"Summarized data: b[\"'](.*?)[\"']\s*$", text, re.M)  # eagerly
    if found:
        return found.group(1)
    # A decoder's own complaint, under "Graph execution error:" and the node it came from.
    bad = re.search(r"Invalid (PNG|JPEG|GIF|BMP)\b|inherent in the image", text)
    if bad:
        kind = bad.group(1) or "BMP"
        return f"the {kind} image is truncated or corrupt: it cannot be decoded"
    if re.search(r"node \S*(Decode|ExtractJpegShape)", text):
        return "the image is truncated or corrupt: it cannot be decoded"
    return first_line(error)


def raise_unless_found(status: tf.Tensor, count: tf.Tensor | None = None) -> tf.Operation:
    """InvalidArgument with REASONS[status] (and how many digits, for TOO_MANY)."""
    reason = tf.gather(tf.constant(REASONS), status)
    if count is not None:
        many = tf.strings.format("found {} digits; at most {} are read", (count, MAX_DIGITS))
        reason = tf.where(tf.equal(status, TOO_MANY), many, reason)
    return require(tf.equal(status, FOUND), reason)
