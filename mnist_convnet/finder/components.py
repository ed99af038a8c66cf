"""Stage 4, components: the thresholded ink as labelled, measured pieces.

Ink in unbroken runs along 90% of a side is peeled off first (shadows, page edges); then
8-connected labels on the list of ink cells of a 2x coarser grid (runs, neighbours,
pointer jumping), and each component's area, box and whether it touches the border.
"""

from __future__ import annotations

import tensorflow as tf

from mnist_convnet.finder import ops

LONG_RUN = 0.9  # ink in unbroken runs along this much of a side is peeled off (row "scan
#                 with shadow 80-87%")


def long_runs(mask: tf.Tensor, fraction: float) -> tf.Tensor:
    """float [h, w], 1 at ink (``mask``: float, 1 or 0) in unbroken horizontal or vertical
    runs of at least ``fraction`` of the side.

    A shadow band or a page edge runs along the whole image; a digit's stroke spans at
    most 71% of a side even in MNIST's own tight 20-in-28 framing.
    """

    def along_rows(m: tf.Tensor) -> tf.Tensor:
        # A pixel is in a run of at least n ink pixels if and only if some window of n
        # pixels holding it is all ink: two cumulative sums, no labelling of runs.
        width = tf.shape(m)[1]
        n = tf.cast(tf.math.ceil(fraction * tf.cast(width, tf.float32)), tf.int32)
        n = tf.clip_by_value(n, 1, width)
        total = tf.pad(tf.cumsum(m, axis=1), [[0, 0], [1, 0]])  # [h, w + 1]
        start = tf.range(width - n + 1)
        window = tf.gather(total, start + n, axis=1) - tf.gather(total, start, axis=1)
        full = tf.pad(
            tf.cumsum(tf.cast(window >= tf.cast(n, tf.float32), tf.float32), 1), [[0, 0], [1, 0]]
        )
        j = tf.range(width)
        first, last = tf.maximum(j - n + 1, 0), tf.minimum(j, width - n)  # windows holding j
        covering = tf.gather(full, last + 1, axis=1) - tf.gather(full, first, axis=1)
        return m * tf.minimum(covering, 1.0)

    return tf.maximum(along_rows(mask), tf.transpose(along_rows(tf.transpose(mask))))


_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def label_points(points: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """int32 [n]: for ink cells at ``points`` (int32 [n, 2], row-major order) on a grid of
    ``shape``, the index of the last cell of their 8-connected component.

    Ink is sparse, so the cells are a list: an index map gives each its 8 neighbours once.
    Every cell starts labelled with its own index. Each round takes the largest label
    among the neighbours, spreads it along horizontal runs (consecutive in row-major
    order), then jumps to the label held by the cell its label names (same component,
    label at least as large). Labels only grow, so the loop ends, every component
    labelled by its largest index; a digit takes a handful of rounds.
    """
    n = tf.shape(points)[0]
    index_map = tf.pad(tf.scatter_nd(points, tf.range(1, n + 1), shape), [[1, 1], [1, 1]])
    neighbours = (
        tf.stack(
            [tf.gather_nd(index_map, points + [1 + dy, 1 + dx]) for dy, dx in _NEIGHBOURS], axis=1
        )
        - 1
    )  # [n, 8], -1 where no ink
    present = neighbours >= 0
    neighbours = tf.maximum(neighbours, 0)
    follows = tf.reduce_all(points[1:] == points[:-1] + [0, 1], axis=1)  # same row, next column
    run = tf.cumsum(tf.cast(tf.concat([[True], ~follows], 0), tf.int32)) - 1  # sorted run ids

    def step(labels: tf.Tensor, _: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        around = tf.where(present, tf.gather(labels, neighbours), -1)
        new = tf.maximum(labels, tf.reduce_max(around, axis=1))
        new = tf.gather(tf.math.unsorted_segment_max(new, run, n), run)  # n >= runs
        new = tf.gather(new, new)
        return new, tf.reduce_any(tf.not_equal(new, labels))

    labels, _ = tf.while_loop(
        lambda _, changed: changed, step, (tf.range(n), n > 0), maximum_iterations=10_000
    )
    return labels


class Components(tf.experimental.ExtensionType):
    """Per-component statistics; row 0.. are the components (background excluded)."""

    labels: tf.Tensor  # int32 [h, w] pixel labels, 0 for background
    ids: tf.Tensor  # int32 [n] label of each component
    area: tf.Tensor  # float32 [n] pixels
    box: tf.Tensor  # int32 [n, 4] ymin, xmin, ymax, xmax (inclusive)
    border: tf.Tensor  # bool [n] touches the image's edge


def components(mask: tf.Tensor) -> Components:
    """Labels and statistics of the ink's components, found on a 2x coarser grid.

    Labelling is the costliest step; at half resolution it is 4x cheaper and only joins
    pieces less than two work pixels apart. Ink in long runs along the image (``long_runs``)
    and a cell around it is peeled off first. Labels come back at full work size, each
    pixel keeping its coarse cell's label where it is ink.
    """
    shape = tf.shape(mask)
    pad = shape % 2
    ink = tf.pad(tf.cast(mask, tf.float32), [[0, pad[0]], [0, pad[1]]])
    half = (shape + pad) // 2
    coarse = tf.reduce_max(tf.reshape(ink, [half[0], 2, half[1], 2]), axis=[1, 3])
    edges = ops.dilate(long_runs(coarse, LONG_RUN))  # shadows, page edges
    points = tf.cast(tf.where(coarse * (1.0 - edges) > 0), tf.int32)
    ids, segment = tf.unique(label_points(points, half) + 1)
    n = ops.count_of(ids)
    ys, xs = points[:, 0], points[:, 1]
    edge = (ys == 0) | (xs == 0) | (ys == half[0] - 1) | (xs == half[1] - 1)
    area = 4.0 * tf.math.unsorted_segment_sum(tf.ones_like(ys, tf.float32), segment, n)
    box = tf.stack(
        [
            2 * tf.math.unsorted_segment_min(ys, segment, n),
            2 * tf.math.unsorted_segment_min(xs, segment, n),
            tf.minimum(2 * tf.math.unsorted_segment_max(ys, segment, n) + 1, shape[0] - 1),
            tf.minimum(2 * tf.math.unsorted_segment_max(xs, segment, n) + 1, shape[1] - 1),
        ],
        axis=1,
    )
    border = tf.math.unsorted_segment_max(tf.cast(edge, tf.int32), segment, n) > 0
    labels = tf.scatter_nd(points, tf.gather(ids, segment), half)
    fine = tf.gather(tf.gather(labels, tf.range(shape[0]) // 2), tf.range(shape[1]) // 2, axis=1)
    fine = fine * tf.cast(mask, tf.int32)
    return Components(labels=fine, ids=ids, area=area, box=box, border=border)
