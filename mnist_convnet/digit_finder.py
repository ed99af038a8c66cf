"""Find the handwritten digit (or the row of digits) in any image, in TensorFlow ops.

This is what makes a photo readable by a model trained on MNIST, and it lives *inside*
the SavedModel, so TF Serving, our REST server, ``mnist-convnet predict`` and the page all
run the same graph. MNIST digits are white ink on black, fitted into 20x20 and centred by
mass in 28x28; a user's capture is anything else. The steps, each a function below:

    header      width x height read from the PNG/JPEG/GIF/BMP header; refused above
                MAX_PIXELS *before* decoding (a 1 MB PNG can hold 400 million pixels)
    decode      first frame; transparent pixels composited onto a backdrop that
                contrasts with the ink, so ink on a transparent canvas shows whatever
                its colour; a large JPEG decoded at 1/2-1/8 scale by libjpeg
    grey        luminance, resized so the longer side is WORK_SIDE (the work image)
    polarity    dark ink on light paper, or light on dark: which extreme is farther
                from the median, measured against a fitted illumination surface
    flatten     ink = |image - local background|; the background is a grey-level
                opening on a coarse grid (min over blocks sized by the shorter side,
                then a 5x5 min and max), so a lamp or a shadow is background, not ink
    threshold   ink > max(0.3 x peak, 4 x noise): the noise is the background's MAD
    components  ink in unbroken runs along 90% of a side peeled off (shadows, page
                edges); 8-connected labels on the list of ink cells of a 2x coarser
                grid (runs, neighbours, pointer jumping)
    pick        drop edge marks (thin components along an image edge), straight
                lines across the image (a frame's sides, ruled lines), specks (< 4% of
                the largest), frames (a box around another component); for one digit,
                keep what stays near the largest
    to_mnist    crop -> ink levels stretched to 0..255 -> hairlines thickened -> fit
                20x20 keeping the aspect ratio -> paste into 28x28 with the centre of
                mass at MNIST's (14, 14)

Numbers: the picked components, grouped left to right so that components overlapping
horizontally are one digit, and short fragments (a "5"'s detached top bar, an open "4"'s
arm) join the nearest digit; each group goes through ``to_mnist``.

Every refusal is an ``InvalidArgumentError`` whose message starts with what went wrong
("no digit found: ...", "image is ... pixels"): TF Serving and our REST server answer it
with HTTP 400; ``error_message`` extracts the sentence.
"""

from __future__ import annotations

import re

import tensorflow as tf

from mnist_convnet.errors import first_line

MAX_PIXELS = 25_000_000  # the same limit `predict` applies through Pillow
WORK_SIDE = 320  # longer side of the work image every input is resized to
MAX_DIGITS = 16  # the most digits serving_number reads in one image
BLOCK = 20  # background blocks are at most BLOCK x BLOCK work pixels (16 along the longer side)
MIN_CONTRAST = 12.0  # grey levels between ink and background, below which there is no ink
SPECK = 0.04  # components smaller than this fraction of the largest are specks
MARGIN = 1  # work pixels around the thresholded ink kept as the strokes' soft edges
STROKE = 2.0  # thinnest stroke, in pixels of the 20x20 box, handed to the model
BOX = 20  # MNIST fits each digit into BOX x BOX ...
SIZE = 28  # ... inside SIZE x SIZE


# --- errors ----------------------------------------------------------------------------


def _require(condition: tf.Tensor, message: str | tf.Tensor) -> tf.Operation:
    """An op raising InvalidArgumentError("assertion failed: [message]") if not condition."""
    return tf.debugging.Assert(condition, [message], name="require")


def error_message(error: tf.errors.OpError) -> str:
    """The sentence of a refusal from this graph (or the first line of any other error)."""
    text = (error.message or "").strip()
    found = re.search(r"assertion failed: \[(.*?)\]", text)  # in a graph
    found = found or re.search(r"Summarized data: b[\"'](.*?)[\"']\s*$", text, re.M)  # eagerly
    if found:
        return found.group(1)
    return first_line(error)


# --- header: how big is the image, before decoding it ----------------------------------


def _uint(encoded: tf.Tensor, start: int, length: int, little_endian: bool) -> tf.Tensor:
    """Unsigned integer of ``length`` bytes at ``start`` of a (padded) byte string."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(encoded, start, length), tf.uint8), tf.int64)
    weights = tf.constant([256**i for i in range(length)], tf.int64)
    return tf.reduce_sum(raw * (weights if little_endian else weights[::-1]))


def image_size(encoded: tf.Tensor) -> tf.Tensor:
    """int64 [height, width] from a PNG, JPEG, GIF or BMP header; [-1, -1] if none of them.

    PNG: IHDR at byte 16, big-endian. GIF: logical screen at byte 6, little-endian.
    BMP: BITMAPINFOHEADER at byte 18, little-endian, height negative for top-down rows.
    JPEG: the SOF segment, found by ``tf.io.extract_jpeg_shape`` without decoding.
    """
    padded = tf.strings.join([encoded, tf.constant(b"\0" * 32)])
    head = tf.strings.substr(padded, 0, 8)
    signed32 = lambda v: tf.where(v >= 2**31, v - 2**32, v)

    def jpeg() -> tf.Tensor:
        return tf.cast(tf.io.extract_jpeg_shape(encoded)[:2], tf.int64)

    branches = [
        (
            tf.equal(head, b"\x89PNG\r\n\x1a\n"),
            lambda: tf.stack([_uint(padded, 20, 4, False), _uint(padded, 16, 4, False)]),
        ),
        (tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8"), jpeg),
        (
            tf.equal(tf.strings.substr(head, 0, 4), b"GIF8"),
            lambda: tf.stack([_uint(padded, 8, 2, True), _uint(padded, 6, 2, True)]),
        ),
        (
            tf.equal(tf.strings.substr(head, 0, 2), b"BM"),
            lambda: tf.stack(
                [tf.abs(signed32(_uint(padded, 22, 4, True))), _uint(padded, 18, 4, True)]
            ),
        ),
    ]
    return tf.case(branches, default=lambda: tf.constant([-1, -1], tf.int64), exclusive=True)


def check_header(size: tf.Tensor) -> tf.Operation:
    """Refuses, before any decoding, what is not a known format or is too many pixels."""
    known = _require(
        tf.reduce_all(size >= 0), "not a PNG, JPEG, GIF or BMP image (no header of one found)"
    )
    pixels = tf.cast(size[0], tf.float64) * tf.cast(size[1], tf.float64)
    message = tf.strings.format(
        "image is {}x{} pixels; at most {} are accepted", (size[1], size[0], MAX_PIXELS)
    )
    with tf.control_dependencies([known]):
        return _require(pixels <= MAX_PIXELS, message)


# --- decode and grey -------------------------------------------------------------------


def _jpeg_grey(encoded: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """A JPEG's luminance, shrunk 2/4/8x by libjpeg while decoding when it is that large.

    The DCT can be decoded at 1/2, 1/4 or 1/8 scale for a fraction of the work; we take
    the smallest that still covers WORK_SIDE. JPEG's Y channel is the same weighting as
    ``tf.image.rgb_to_grayscale``; JPEGs have no transparency.
    """
    longer = tf.reduce_max(size)

    def at(ratio: int):
        return lambda: tf.io.decode_jpeg(encoded, channels=1, ratio=ratio)

    branches = [(longer >= r * WORK_SIDE, at(r)) for r in (8, 4, 2)]
    return tf.cast(tf.case(branches, default=at(1)), tf.float32)[..., 0]


def _any_grey(encoded: tf.Tensor) -> tf.Tensor:
    """PNG, GIF or BMP (first frame) -> grey, transparent pixels resolved.

    Transparent pixels carry no ink, and whatever colour the app left under them means
    nothing. They are composited onto white when the visible ink is dark and onto black
    when it is light, so the ink always stands out from the backdrop.
    """
    image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
    image = tf.cast(image, tf.float32)
    channels = tf.shape(image)[2]
    colour = tf.cond(
        channels >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3])
    )
    alpha = tf.cond(
        tf.equal(channels % 2, 0),
        lambda: image[..., -1] / 255.0,
        lambda: tf.ones_like(image[..., 0]),
    )
    grey = tf.image.rgb_to_grayscale(colour)[..., 0]
    visible = tf.reduce_sum(grey * alpha) / tf.maximum(tf.reduce_sum(alpha), 1e-6)
    backdrop = tf.where(visible < 128.0, 255.0, 0.0)
    return grey * alpha + backdrop * (1.0 - alpha)


def decode_grey(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Encoded bytes -> (float32 grey in 0..255, the image's [height, width]).

    The grey image may be smaller than the image (a large JPEG is decoded shrunk).
    """
    size = image_size(encoded)
    with tf.control_dependencies([check_header(size)]):
        jpeg = tf.equal(tf.strings.substr(encoded, 0, 2), b"\xff\xd8")
        grey = tf.cond(jpeg, lambda: _jpeg_grey(encoded, size), lambda: _any_grey(encoded))
    return grey, size


def work_image(grey: tf.Tensor) -> tf.Tensor:
    """grey [H, W] -> grey [h, w] with max(h, w) == WORK_SIDE.

    One working size whatever came in: the morphology below uses fixed windows, and a
    5000-pixel photo costs what a 640-pixel one does. Shrinking averages areas (no
    aliasing); enlarging a thumbnail interpolates.
    """
    shape = tf.cast(tf.shape(grey), tf.float32)
    scale = WORK_SIDE / tf.reduce_max(shape)
    size = tf.cast(tf.maximum(tf.round(shape * scale), 1.0), tf.int32)
    small = tf.cond(
        scale < 1.0,
        lambda: tf.image.resize(grey[..., None], size, method="area"),
        lambda: tf.image.resize(grey[..., None], size, method="bilinear"),
    )[..., 0]
    return small


# --- ink: polarity, illumination, threshold -------------------------------------------


def _window3(x: tf.Tensor, combine) -> tf.Tensor:
    """3x3 neighbourhood of every pixel of [h, w] folded with ``combine`` (edges mirrored).

    Shifted slices, not tf.nn.max_pool2d: on one channel the pooling kernel is 20x slower.
    """
    p = tf.pad(x, [[1, 1], [1, 1]], mode="SYMMETRIC")
    across = combine(combine(p[:, :-2], p[:, 1:-1]), p[:, 2:])
    return combine(combine(across[:-2], across[1:-1]), across[2:])


def dilate(x: tf.Tensor) -> tf.Tensor:
    return _window3(x, tf.maximum)


def erode(x: tf.Tensor) -> tf.Tensor:
    return _window3(x, tf.minimum)


def smooth(x: tf.Tensor) -> tf.Tensor:
    return _window3(x, tf.add) / 9.0


def _blocks(x: tf.Tensor, block: int | tf.Tensor, reduce) -> tf.Tensor:
    """``reduce`` over block x block tiles of [h, w] (the last tiles padded by mirroring)."""
    shape = tf.shape(x)
    pad = (-shape) % block
    p = tf.pad(x, [[0, pad[0]], [0, pad[1]]], mode="SYMMETRIC")
    tiles = tf.reshape(
        p, [(shape[0] + pad[0]) // block, block, (shape[1] + pad[1]) // block, block]
    )
    return reduce(tiles, axis=[1, 3])


def block_min(x: tf.Tensor, block: int | tf.Tensor) -> tf.Tensor:
    return _blocks(x, block, tf.reduce_min)


def percentile(values: tf.Tensor, q: float | tf.Tensor) -> tf.Tensor:
    """The q-quantile (0..1) of grey levels in [0, 256), to within one level.

    From a 256-bin histogram: sorting 100,000 floats costs 10 ms here, this 0.6 ms.
    """
    counts = tf.histogram_fixed_width(tf.reshape(values, [-1]), [0.0, 256.0], nbins=256)
    cumulative = tf.cumsum(counts)
    wanted = tf.cast(tf.math.ceil(q * tf.cast(cumulative[-1], tf.float32)), tf.int32)
    return tf.cast(tf.argmax(cumulative >= tf.maximum(wanted, 1)), tf.float32)


def illumination(grey: tf.Tensor) -> tf.Tensor:
    """[h, w]: a quadratic surface least-squares-fitted to the BLOCK means of ``grey``.

    A lamp to one side, a vignette, a hot spot are low-order: the surface follows them.
    A digit is small, sharp detail: it barely moves the fit.
    """
    means = _blocks(grey, BLOCK, tf.reduce_mean)

    def terms(rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
        v, u = tf.meshgrid(
            tf.linspace(-1.0, 1.0, rows), tf.linspace(-1.0, 1.0, cols), indexing="ij"
        )
        v, u = tf.reshape(v, [-1]), tf.reshape(u, [-1])
        return tf.stack([tf.ones_like(u), u, v, u * u, v * v, u * v], axis=1)

    grid = tf.shape(means)
    coefficients = tf.linalg.lstsq(
        terms(grid[0], grid[1]), tf.reshape(means, [-1, 1]), l2_regularizer=1e-3
    )
    shape = tf.shape(grey)
    return tf.reshape(terms(shape[0], shape[1]) @ coefficients, shape)


def polarity_dark_ink(grey: tf.Tensor) -> tf.Tensor:
    """True when the ink is darker than the background.

    The background is most of the picture, so the median (against the illumination,
    ``illumination``) is a background level; the ink is the extreme farther from it. A
    3x3 mean first, so a single dust speck is no extreme.
    """
    residual = smooth(grey) - illumination(grey)
    median = 2.0 * percentile((residual + 256.0) / 2.0, 0.5) - 256.0
    return (median - tf.reduce_min(residual)) >= (tf.reduce_max(residual) - median)


def flatten(grey: tf.Tensor, dark_ink: tf.Tensor) -> tf.Tensor:
    """Ink strength [h, w] >= 0 with the background (light, shadows) taken away.

    Ink is made bright, then the background is estimated as a grey-level opening on a
    coarse grid: the minimum of each block (ink is thinner than a block), then a 3x3
    minimum and maximum over blocks (strokes wider than one block), a 3x3 mean, and back
    to full size. The ink is what stands above it.
    """
    bright = tf.where(dark_ink, 255.0 - grey, grey)
    # Blocks follow the shorter side, so a wide strip (a row of digits) gets a window of
    # 40% of its height, not of its width: a vignette across it is background.
    block = tf.clip_by_value(tf.reduce_min(tf.shape(bright)) // 12, 4, BLOCK)
    grid = block_min(bright, block)
    grid = smooth(dilate(dilate(erode(erode(grid)))))
    background = tf.image.resize(grid[..., None], tf.shape(bright), method="bilinear")[..., 0]
    return tf.nn.relu(bright - background)


def ink_threshold(ink: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(threshold, peak): ink is what exceeds max(0.3 x peak, 4 x the noise's MAD sigma)."""
    peak = tf.reduce_max(smooth(ink))
    median = percentile(ink, 0.5)
    sigma = 1.4826 * percentile(tf.abs(ink - median), 0.5)
    return tf.maximum(0.3 * peak, median + 4.0 * sigma), peak


# --- connected components --------------------------------------------------------------


def _runs(mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(run id of every pixel [h*w], sorted), for the horizontal runs of ``mask``."""
    left = tf.pad(mask[:, :-1], [[0, 0], [1, 0]])
    return tf.cumsum(tf.cast(tf.reshape(mask & ~left, [-1]), tf.int32))


def long_runs(mask: tf.Tensor, fraction: float) -> tf.Tensor:
    """bool [h, w]: ink in unbroken horizontal or vertical runs >= ``fraction`` of the side.

    A shadow band or a page edge runs along the whole image; a digit's stroke spans at
    most 71% of a side even in MNIST's own tight 20-in-28 framing.
    """

    def along_rows(m: tf.Tensor) -> tf.Tensor:
        run = _runs(m)
        length = tf.math.segment_sum(tf.cast(tf.reshape(m, [-1]), tf.int32), run)
        longest = tf.reshape(tf.gather(length, run), tf.shape(m))
        return m & (tf.cast(longest, tf.float32) >= fraction * tf.cast(tf.shape(m)[1], tf.float32))

    return along_rows(mask) | tf.transpose(along_rows(tf.transpose(mask)))


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
        new = tf.gather(tf.math.segment_max(new, run), run)
        new = tf.gather(new, new)
        return new, tf.reduce_any(tf.not_equal(new, labels))

    labels, _ = tf.while_loop(
        lambda _, changed: changed, step, (tf.range(n), n > 0), maximum_iterations=10_000
    )
    return labels


def label_components(mask: tf.Tensor) -> tf.Tensor:
    """int32 [h, w]: 0 off the mask, else one label (>= 1) per 8-connected component."""
    points = tf.cast(tf.where(mask), tf.int32)
    return tf.scatter_nd(points, label_points(points, tf.shape(mask)) + 1, tf.shape(mask))


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
    padded = tf.pad(mask, [[0, pad[0]], [0, pad[1]]])
    half = (shape + pad) // 2
    coarse = tf.reduce_any(tf.reshape(padded, [half[0], 2, half[1], 2]), axis=[1, 3])
    edges = dilate(tf.cast(long_runs(coarse, 0.9), tf.float32)) > 0  # shadows, page edges
    points = tf.cast(tf.where(coarse & ~edges), tf.int32)
    ids, segment = tf.unique(label_points(points, half) + 1)
    n = tf.size(ids)
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
    fine = tf.repeat(tf.repeat(labels, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]
    return Components(labels=tf.where(mask, fine, 0), ids=ids, area=area, box=box, border=border)


# --- picking the digit -----------------------------------------------------------------


def _select(found: Components, keep: tf.Tensor) -> Components:
    return Components(
        labels=found.labels,
        ids=tf.boolean_mask(found.ids, keep),
        area=tf.boolean_mask(found.area, keep),
        box=tf.boolean_mask(found.box, keep),
        border=tf.boolean_mask(found.border, keep),
    )


def _encloses(outer: tf.Tensor, inner: tf.Tensor) -> tf.Tensor:
    """bool [n, n]: box i strictly contains box j (all four sides inside)."""
    o, i = outer[:, None, :], inner[None, :, :]
    return (
        (o[..., 0] < i[..., 0])
        & (o[..., 1] < i[..., 1])
        & (o[..., 2] > i[..., 2])
        & (o[..., 3] > i[..., 3])
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
    return (top_or_bottom & (across >= 0.5) & (down <= 0.35)) | (
        left_or_right & (down >= 0.5) & (across <= 0.35)
    )


def rules(found: Components, shape: tf.Tensor) -> tf.Tensor:
    """bool [n]: straight thin lines across most of the image — the sides of a frame
    drawn around a number, a ruled line — whose long runs were not peeled off whole."""
    box = tf.cast(found.box, tf.float32)
    height, width = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    side = tf.cast(shape, tf.float32)
    upright = (height >= 0.6 * side[0]) & (width <= 0.06 * height)
    level = (width >= 0.6 * side[1]) & (height <= 0.06 * width)
    return upright | level


def pick(found: Components) -> Components:
    """The components that make up writing: no edge marks, specks or frames.

    Edge marks (``edge_marks``) and ``rules`` go, unless nothing else of 5% of their size
    is there (a "1" written along the edge looks like one), and so do pieces cut by the
    edge that are less than half the largest component inside. Specks are smaller
    than SPECK of the largest remaining component. A component whose box strictly
    contains another's is a frame drawn around the writing.
    """
    junk = edge_marks(found, tf.shape(found.labels)) | rules(found, tf.shape(found.labels))
    # Writing must be more than dust beside the edge marks to count as "something else".
    enough = tf.maximum(4.0, 0.05 * tf.reduce_max(tf.where(junk, found.area, 0.0)))
    has_writing = tf.reduce_any(~junk & (found.area >= enough))
    # Beside writing away from the edges, small pieces cut by an edge are corners of
    # vignetting or the next word, not a digit.
    inner = tf.reduce_max(tf.where(found.border, 0.0, found.area))
    cut = found.border & (found.area < 0.5 * inner)
    candidate = tf.where(has_writing, ~junk & ~cut, tf.ones_like(junk))
    largest = tf.reduce_max(tf.where(candidate, found.area, 0.0))
    found = _select(found, candidate & (found.area >= SPECK * largest) & (found.area >= 2.0))
    frame = tf.reduce_any(_encloses(found.box, found.box), axis=1)
    return _select(found, ~frame | tf.reduce_all(frame))


def near_largest(found: Components) -> Components:
    """The largest component and those close to it: one digit, not stray marks around it."""
    largest = tf.argmax(found.area)
    box = tf.cast(found.box, tf.float32)
    main = box[largest]
    reach = 0.5 * tf.maximum(main[2] - main[0], main[3] - main[1]) + 2.0
    gap_y = tf.maximum(0.0, tf.maximum(box[:, 0] - main[2], main[0] - box[:, 2]))
    gap_x = tf.maximum(0.0, tf.maximum(box[:, 1] - main[3], main[1] - box[:, 3]))
    return _select(found, tf.maximum(gap_y, gap_x) <= reach)


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
    tall = height >= 0.45 * tf.reduce_max(height)
    index = tf.cast(tf.where(tall)[:, 0], tf.int32)
    left, right = tf.gather(box[:, 1], index), tf.gather(box[:, 3], index)
    order = tf.argsort(left)
    left_sorted, right_sorted = tf.gather(left, order), tf.gather(right, order)
    width = tf.cast(right_sorted - left_sorted + 1, tf.float32)
    reach = tf.scan(tf.maximum, right_sorted)  # the rightmost edge of components 0..i
    overlap = tf.cast(reach[:-1] - left_sorted[1:] + 1, tf.float32)
    narrower = tf.minimum(width[1:], width[:-1])
    starts = tf.concat([[True], overlap < 0.5 * narrower], 0)
    group_sorted = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    count = tf.reduce_max(group_sorted) + 1
    tall_group = tf.scatter_nd(order[:, None], group_sorted, tf.shape(order))
    span_left = tf.math.unsorted_segment_min(left, tall_group, count)
    span_right = tf.math.unsorted_segment_max(right, tall_group, count)
    # Gap between each component and each group's span; negative = overlap.
    gap = tf.maximum(span_left[None, :], box[:, 1:2]) - tf.minimum(span_right[None, :], box[:, 3:4])
    nearest = tf.cast(tf.argmin(gap, axis=1), tf.int32)
    placed = tf.scatter_nd(index[:, None], tall_group, tf.shape(tall))
    return tf.where(tall, placed, nearest), count


# --- to MNIST --------------------------------------------------------------------------


def to_mnist(ink: tf.Tensor, member: tf.Tensor) -> tf.Tensor:
    """uint8 [28, 28]: the ink where ``member`` (bool [h, w]), as MNIST draws a digit."""
    near = tf.cast(member, tf.float32)
    for _ in range(MARGIN):  # the strokes' soft edges, below the threshold
        near = dilate(near)
    near = near > 0
    rows = tf.where(tf.reduce_any(member, 1))[:, 0]
    cols = tf.where(tf.reduce_any(member, 0))[:, 0]
    top, bottom = tf.cast(rows[0], tf.int32), tf.cast(rows[-1], tf.int32)
    left, right = tf.cast(cols[0], tf.int32), tf.cast(cols[-1], tf.int32)
    strokes = tf.where(near, ink, 0.0)
    levels = tf.boolean_mask(ink, member)
    high = percentile(levels, 0.9)
    crop = strokes[top : bottom + 1, left : right + 1]
    crop = tf.clip_by_value(crop / tf.maximum(high, 1e-3), 0.0, 1.0)

    height, width = bottom - top + 1, right - left + 1
    scale = BOX / tf.cast(tf.maximum(height, width), tf.float32)
    crop = thicken(crop, member[top : bottom + 1, left : right + 1], scale)
    size = tf.maximum(tf.cast(tf.round(tf.cast([height, width], tf.float32) * scale), tf.int32), 1)
    small = tf.image.resize(crop[..., None], size, method="bilinear", antialias=True)[..., 0]
    small = tf.clip_by_value(small / tf.maximum(tf.reduce_max(small), 1e-3), 0.0, 1.0) * 255.0

    # The centre of mass goes to the centre of the 28x28 field: pixel index 14.0 in MNIST
    # (measured over its test set), not 13.5.
    mass = tf.maximum(tf.reduce_sum(small), 1e-3)
    ys = tf.cast(tf.range(size[0]), tf.float32)
    xs = tf.cast(tf.range(size[1]), tf.float32)
    cy = tf.reduce_sum(small * ys[:, None]) / mass
    cx = tf.reduce_sum(small * xs[None, :]) / mass
    offset_y = tf.clip_by_value(tf.cast(tf.round(SIZE / 2 - cy), tf.int32), 0, SIZE - size[0])
    offset_x = tf.clip_by_value(tf.cast(tf.round(SIZE / 2 - cx), tf.int32), 0, SIZE - size[1])
    field = tf.image.pad_to_bounding_box(small[..., None], offset_y, offset_x, SIZE, SIZE)[..., 0]
    return tf.cast(tf.round(field), tf.uint8)


def thicken(crop: tf.Tensor, member: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Strokes that would be thinner than STROKE pixels in the 20x20 box, made wider.

    MNIST's strokes are 2-3 pixels wide at that size; a fine pen, or a digit that is
    small in the work image (one of eight in a row), would reach the model as a hairline.
    Stroke width ~ area / half the perimeter; each 3x3 dilation adds two work pixels.
    """
    area = tf.reduce_sum(tf.cast(member, tf.float32))
    edge = tf.reduce_sum(tf.cast(member & (erode(tf.cast(member, tf.float32)) <= 0), tf.float32))
    stroke = 2.0 * area / tf.maximum(edge, 1.0) * scale  # in 20x20-box pixels
    times = tf.cast(
        tf.clip_by_value(tf.round((STROKE - stroke) / (2.0 * scale)), 0.0, 8.0), tf.int32
    )
    return tf.while_loop(lambda i, _: i < times, lambda i, x: (i + 1, dilate(x)), (0, crop))[1]


# --- the two entry points --------------------------------------------------------------


class Writing(tf.experimental.ExtensionType):
    """What ``find_writing`` returns: the ink map and the components that are writing."""

    ink: tf.Tensor  # float32 [h, w] at work size
    scale: tf.Tensor  # float32 work size / original size
    found: Components


def find_writing(encoded: tf.Tensor) -> Writing:
    """Encoded image -> the ink and the picked components, or InvalidArgument."""
    grey, size = decode_grey(encoded)
    grey = work_image(grey)
    scale = WORK_SIDE / tf.cast(tf.reduce_max(size), tf.float32)  # work pixels per image pixel
    ink = flatten(grey, polarity_dark_ink(grey))
    threshold, peak = ink_threshold(ink)
    blank = _require(
        peak >= MIN_CONTRAST, "no digit found: the image is blank or has almost no contrast"
    )
    with tf.control_dependencies([blank]):
        found = pick(components(ink > threshold))
    nothing = _require(tf.size(found.ids) > 0, "no digit found: only edge marks and specks")
    with tf.control_dependencies([nothing]):  # nothing below runs on zero components
        found = tf.nest.map_structure(tf.identity, found, expand_composites=True)
        return Writing(ink=tf.identity(ink), scale=scale, found=found)


def _member(found: Components, keep: tf.Tensor) -> tf.Tensor:
    """bool [h, w]: pixels of the components where ``keep``."""
    ids = tf.boolean_mask(found.ids, keep)
    return tf.reduce_any(tf.equal(found.labels[..., None], ids), axis=-1)


def find_digit(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded image (scalar string) -> uint8 [28, 28]: the digit in it, MNIST-style."""
    writing = find_writing(encoded)
    digit = near_largest(writing.found)
    return to_mnist(writing.ink, _member(digit, tf.ones_like(digit.ids, tf.bool)))


def find_number(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Encoded image -> (uint8 [MAX_DIGITS, 28, 28], int32 boxes [MAX_DIGITS, 4], count).

    Boxes are ymin, xmin, ymax, xmax in the original image's pixels (TF's box order),
    left to right; rows past ``count`` are zeros.
    """
    writing = find_writing(encoded)
    found = writing.found
    group, count = group_columns(found)
    many = _require(
        count <= MAX_DIGITS,
        tf.strings.format("found {} digits; at most {} are read", (count, MAX_DIGITS)),
    )
    with tf.control_dependencies([many]):
        digits = tf.map_fn(
            lambda g: to_mnist(writing.ink, _member(found, tf.equal(group, g))),
            tf.range(count),
            fn_output_signature=tf.TensorSpec([SIZE, SIZE], tf.uint8),
        )
    box = tf.stack(
        [
            tf.math.unsorted_segment_min(found.box[:, 0], group, count),
            tf.math.unsorted_segment_min(found.box[:, 1], group, count),
            tf.math.unsorted_segment_max(found.box[:, 2], group, count),
            tf.math.unsorted_segment_max(found.box[:, 3], group, count),
        ],
        axis=1,
    )
    box = tf.cast(tf.round(tf.cast(box, tf.float32) / writing.scale), tf.int32)
    pad = MAX_DIGITS - count
    return (
        tf.pad(digits, [[0, pad], [0, 0], [0, 0]]),
        tf.pad(box, [[0, pad], [0, 0]]),
        count,
    )
