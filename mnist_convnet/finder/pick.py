"""Stage 5, pick: which components are writing, and which belong to which digit.

Edge marks (thin components along an image edge), straight lines across the image (a
frame's sides, ruled lines), specks (< 4% of the largest) and frames (a box around
another component) are dropped; for one digit, what stays near the largest is kept; for
a number, components overlapping horizontally are one digit and short fragments (a "5"'s
detached top bar, an open "4"'s arm) join the nearest. Tuned numbers carry the row of
docs/captures.md that set them.
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.finder import ops
from mnist_convnet.finder.components import Components

EDGE_ALONG = 0.5  # an edge mark runs along at least this much of the edge it touches ...
EDGE_THIN = 0.35  # ... and reaches at most this far into the image (row "digit at the edge
#                   + pepper")
WRITING_BESIDE_MARKS = 0.05  # writing beside edge marks is >= this of their size (same row)
LINE_SPAN = 0.6  # a ruled line or a frame's side spans this much of the image ...
LINE_THIN = 0.06  # ... and is at most this thick for its length (row "rows of 2-8 digits")
EDGE_CUT = 0.5  # edge-cut pieces under this fraction of the largest inner one are
#                 dropped (row "numbers, photo 83-89%")
SPECK = 0.04  # components smaller than this fraction of the largest are specks (first version)
TALL = 0.45  # in a number, pieces shorter than this fraction of the tallest are fragments
#              that join the nearest digit (row "numbers, photo 83-89%")
SAME_DIGIT = 0.5  # tall pieces overlapping this much of the narrower one are one digit
#                   (row "numbers, photo 83-89%")
NEAR = 0.5  # one digit keeps components within this much of its largest one's size (first
#             version)


def subset(found: Components, keep: tf.Tensor) -> Components:
    """The components where ``keep``: one index gathered from each statistic
    (tf.boolean_mask builds its reshapes and index again for each, ~20 ops apiece)."""
    rows = tf.where(keep)[:, 0]
    return Components(
        labels=found.labels,
        ids=tf.gather(found.ids, rows),
        area=tf.gather(found.area, rows),
        box=tf.gather(found.box, rows),
        border=tf.gather(found.border, rows),
    )


def _encloses(outer: tf.Tensor, inner: tf.Tensor) -> tf.Tensor:
    """bool [n, n]: box i strictly contains box j (all four sides inside)."""
    o, i = tf.expand_dims(outer, 1), tf.expand_dims(inner, 0)
    return (
        (o[:, :, 0] < i[:, :, 0])
        & (o[:, :, 1] < i[:, :, 1])
        & (o[:, :, 2] > i[:, :, 2])
        & (o[:, :, 3] > i[:, :, 3])
    )


def edge_marks(found: Components, shape: tf.Tensor) -> tf.Tensor:
    """bool [n]: thin components along an edge they touch, for half its length or more.

    Shadows, page edges and frames hug an edge; a digit that reaches the edge (a drawing
    that ran off the canvas, a tight crop) touches it over a short stretch, or reaches
    far into the picture.
    """
    height, width = tf.cast(shape[0] - 1, tf.float32), tf.cast(shape[1] - 1, tf.float32)
    box = found.box
    across = tf.cast(box[:, 3] - box[:, 1], tf.float32) / width
    down = tf.cast(box[:, 2] - box[:, 0], tf.float32) / height
    top_or_bottom = (box[:, 0] == 0) | (box[:, 2] == shape[0] - 1)
    left_or_right = (box[:, 1] == 0) | (box[:, 3] == shape[1] - 1)
    return (top_or_bottom & (across >= EDGE_ALONG) & (down <= EDGE_THIN)) | (
        left_or_right & (down >= EDGE_ALONG) & (across <= EDGE_THIN)
    )


def ruled_lines(found: Components, shape: tf.Tensor) -> tf.Tensor:
    """bool [n]: straight thin lines across most of the image — the sides of a frame
    drawn around a number, a ruled line — whose long runs were not peeled off whole."""
    box = tf.cast(found.box, tf.float32)
    height, width = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    side = tf.cast(shape, tf.float32)
    upright = (height >= LINE_SPAN * side[0]) & (width <= LINE_THIN * height)
    level = (width >= LINE_SPAN * side[1]) & (height <= LINE_THIN * width)
    return upright | level


def writing_only(found: Components) -> Components:
    """The components that make up writing: no edge marks, specks or frames.

    Edge marks (``edge_marks``) and ``ruled_lines`` go, unless nothing else of 5% of their
    size is there (a "1" written along the edge looks like one), and so do pieces cut by
    the edge that are less than half the largest component inside. Specks are smaller
    than SPECK of the largest remaining component. A component whose box strictly
    contains another's is a frame drawn around the writing.
    """
    shape = tf.shape(found.labels)
    junk = edge_marks(found, shape) | ruled_lines(found, shape)
    # FoundWriting must be more than dust beside the edge marks to count as "something else".
    enough = tf.maximum(4.0, WRITING_BESIDE_MARKS * tf.reduce_max(tf.where(junk, found.area, 0.0)))
    has_writing = tf.reduce_any(~junk & (found.area >= enough))
    # Beside writing away from the edges, small pieces cut by an edge are corners of
    # vignetting or the next word, not a digit.
    inner = tf.reduce_max(tf.where(found.border, 0.0, found.area))
    cut = found.border & (found.area < EDGE_CUT * inner)
    candidate = tf.where(has_writing, ~junk & ~cut, tf.ones_like(junk))
    largest = tf.reduce_max(tf.where(candidate, found.area, 0.0))
    found = subset(found, candidate & (found.area >= SPECK * largest) & (found.area >= 2.0))
    frame = tf.reduce_any(_encloses(found.box, found.box), axis=1)
    return subset(found, ~frame | tf.reduce_all(frame))


def near_largest(found: Components) -> Components:
    """The largest component and those close to it: one digit, not stray marks around it."""
    largest = ops.argmax_nonempty(found.area)
    box = tf.cast(found.box, tf.float32)
    main = tf.gather(box, largest)
    reach = NEAR * tf.maximum(main[2] - main[0], main[3] - main[1]) + 2.0
    gap_y = tf.maximum(0.0, tf.maximum(box[:, 0] - main[2], main[0] - box[:, 2]))
    gap_x = tf.maximum(0.0, tf.maximum(box[:, 1] - main[3], main[1] - box[:, 3]))
    return subset(found, tf.maximum(gap_y, gap_x) <= reach)


def group_columns(found: Components) -> tuple[tf.Tensor, tf.Tensor]:
    """(group of each component [n], number of groups): digits of a row, left to right.

    Components at least 45% as tall as the tallest are digits or their main strokes:
    sorted by left edge, one starts a new group unless it overlaps the group so far (a
    running maximum of right edges) by half the narrower one's width. Shorter pieces are
    fragments — a "5"'s detached top bar, the arm of an open "4" — and join the group
    nearest them horizontally (the most overlapped, else the closest).
    """
    box = found.box
    height = tf.cast(box[:, 2] - box[:, 0] + 1, tf.float32)
    tall = height >= TALL * tf.reduce_max(height)
    index = tf.cast(tf.where(tall)[:, 0], tf.int32)
    left, right = tf.gather(box[:, 1], index), tf.gather(box[:, 3], index)
    order = tf.argsort(left, stable=True)
    left_sorted, right_sorted = tf.gather(left, order), tf.gather(right, order)
    width = tf.cast(right_sorted - left_sorted + 1, tf.float32)
    reach = ops.cumulative_max(right_sorted)  # the rightmost edge of components 0..i
    overlap = tf.cast(reach[:-1] - left_sorted[1:] + 1, tf.float32)
    narrower = tf.minimum(width[1:], width[:-1])
    starts = tf.concat([[True], overlap < SAME_DIGIT * narrower], 0)
    group_sorted = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    count = tf.reduce_max(group_sorted) + 1
    tall_group = tf.scatter_nd(ops.column(order), group_sorted, tf.shape(order))
    span_left = tf.math.unsorted_segment_min(left, tall_group, count)
    span_right = tf.math.unsorted_segment_max(right, tall_group, count)
    # Gap between each component and each group's span; negative = overlap.
    gap = tf.maximum(ops.row(span_left), box[:, 1:2]) - tf.minimum(ops.row(span_right), box[:, 3:4])
    nearest = ops.argmax_nonempty(-tf.cast(gap, tf.float32), axis=1)  # the nearest group
    placed = tf.scatter_nd(ops.column(index), tall_group, tf.shape(tall))
    return tf.where(tall, placed, nearest), count


def pixels_of(found: Components, keep: tf.Tensor) -> tf.Tensor:
    """float [h, w], 1 at pixels of the components where ``keep``, else 0 (a lookup by
    label: a float map, since TF Lite's boolean kernels are slow on whole images)."""
    kept = tf.scatter_nd(
        ops.column(found.ids),
        tf.cast(keep, tf.float32),
        tf.reshape(tf.reduce_max(found.labels) + 1, [1]),
    )
    return tf.gather(kept, found.labels)
