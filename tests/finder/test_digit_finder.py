"""digit_finder.py: the graph that finds a digit in any capture, step by step.

No model here: these tests check what the graph hands the model. A capture of a real
MNIST test digit (shadowed, lit from one side, framed, transparent, ...) must give the
28x28 image that a clean capture of the same digit gives.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mnist_convnet.finder import digit_finder
from testbed import captures
from tests.helpers import find_digit

find_number = tf.function(digit_finder.find_number, input_signature=[tf.TensorSpec([], tf.string)])
# In a graph, as the finder runs it: eagerly, a walk of thousands of steps takes seconds.
gif_frame_pixels = tf.function(
    digit_finder.gif_frame_pixels, input_signature=[tf.TensorSpec([], tf.string)]
)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def _png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height black pixels, compressed ~1000:1, built row by row."""
    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def digit(test_digits) -> np.ndarray:
    return test_digits[0][0]


def _scene(digit: np.ndarray, rng_seed: int = 0) -> tuple[np.ndarray, np.random.Generator]:
    """The digit's ink, 90 px tall, placed in a 200x240 field (same place for the same seed)."""
    rng = np.random.default_rng(rng_seed)
    return captures.single(rng, digit, 90, (200, 240)), rng


# --- the header check, before decoding -------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
@pytest.mark.parametrize("size", [(1, 1), (37, 5), (640, 480)])
def test_image_size_is_read_from_the_header(fmt, size):
    width, height = size
    encoded = captures.encode(np.zeros((height, width)), fmt)
    assert digit_finder.image_size(tf.constant(encoded)).numpy().tolist() == [height, width]


@pytest.mark.slow
def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = _png_bomb(20000, 20000)  # 400 Mpixels in about 400 kB
    assert len(bomb) < 1_000_000
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bomb))
    assert digit_finder.error_message(error.value) == (
        "image is 20000x20000 pixels; at most 25000000 are accepted"
    )


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_forged_headers_of_other_formats_are_refused(fmt):
    """The size fields of a small GIF/BMP rewritten to 30000x30000: refused, not decoded."""
    data = bytearray(captures.encode(np.zeros((8, 8)), fmt))
    if fmt == "GIF":
        data[6:10] = struct.pack("<HH", 30000, 30000)
    else:
        data[18:26] = struct.pack("<ii", 30000, -30000)  # top-down rows: negative height
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bytes(data)))
    assert "image is 30000x30000 pixels" in digit_finder.error_message(error.value)


def _animated_gif(frames: list[np.ndarray]) -> bytes:
    """An animated GIF of these grey frames, each stored whole (alternate frames differ
    everywhere, so no encoder can store a smaller rectangle)."""
    import io

    from PIL import Image

    images = [Image.fromarray(np.clip(np.round(f), 0, 255).astype(np.uint8)) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], loop=0)
    return buffer.getvalue()


def _frame_pixels_by_pil(data: bytes) -> int:
    """The pixels of every frame's image descriptor, as Pillow reads them (the oracle)."""
    import io

    from PIL import Image

    total = 0
    with Image.open(io.BytesIO(data)) as image:
        for index in range(image.n_frames):
            image.seek(index)
            x0, y0, x1, y1 = image.tile[0][1] if image.tile else (0, 0, 0, 0)
            total += (x1 - x0) * (y1 - y0)
    return total


@pytest.mark.parametrize("frames, size", [(1, (5, 7)), (3, (40, 30)), (12, (64, 64))])
def test_gif_frame_pixels_count_every_frame_as_the_decoder_will(frames, size):
    sheets = [np.full(size, 255 * (i % 2)) for i in range(frames)]
    data = _animated_gif(sheets)
    counted, finished = gif_frame_pixels(tf.constant(data))
    assert counted.numpy() == _frame_pixels_by_pil(data) == frames * size[0] * size[1]
    assert finished


def test_an_animated_gif_bomb_is_refused_before_decoding():
    """The decoder expands every frame of a GIF, though only the first is read: 30 frames
    of 1000x1000 in ~60 kB would cost 30 Mpixels of decoding. The header says 1 Mpixel."""
    bomb = _animated_gif([np.full((1000, 1000), 255 * (i % 2)) for i in range(30)])
    assert len(bomb) < 100_000
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bomb))
    assert digit_finder.error_message(error.value) == (
        "GIF frames hold 30000000 pixels in all; at most 25000000 are accepted"
    )


def test_a_gif_frame_larger_than_its_screen_is_counted_by_its_own_size():
    data = bytearray(_animated_gif([np.zeros((8, 8)), np.full((8, 8), 255)]))
    descriptor = data.index(b"\x2c\x00\x00\x00\x00\x08\x00\x08\x00")  # the first frame's
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", 30000, 30000)
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bytes(data)))
    assert "GIF frames hold 900000064 pixels in all" in digit_finder.error_message(error.value)


def test_a_gif_cut_into_tiny_sub_blocks_is_refused_after_a_bounded_walk():
    """One frame whose 400 kB of data are 1-byte sub-blocks: 200,000 steps to walk, so the
    walk stops at its budget (1024 + 400,000 / 128 steps) and the GIF is refused."""
    head = _animated_gif([np.zeros((8, 8))])
    descriptor = head.index(b"\x2c\x00\x00\x00\x00\x08\x00\x08\x00")
    packed = head[descriptor + 9]
    table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
    body = head[: descriptor + 10 + table] + b"\x02" + b"\x01\x00" * 200_000 + b"\x00\x3b"
    _, finished = gif_frame_pixels(tf.constant(body))
    assert not finished
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(body))
    assert digit_finder.error_message(error.value).startswith("GIF has more than 4149 blocks")


def test_an_animated_gif_is_read_as_its_first_frame(digit):
    cover, _ = _scene(digit)
    page = captures.on_paper(cover)
    still = find_digit(tf.constant(captures.encode(page, "GIF")))
    moving = find_digit(tf.constant(_animated_gif([page, 255 - page, page])))
    np.testing.assert_array_equal(moving.numpy(), still.numpy())


def _scan_ends(data: bytes) -> list[int]:
    """Where each scan (SOS segment and its entropy-coded data) of a JPEG ends: the
    oracle, walking the segments by their lengths and the data to its next marker."""
    at, ends = 2, []
    while at < len(data) and data[at + 1] != 0xD9:
        end = at + 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
        if data[at + 1] == 0xDA:
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
            ends.append(end)
        at = end
    return ends


@pytest.mark.parametrize(
    "channels, options",
    [(1, {}), (3, {}), (1, {"progressive": True}), (3, {"progressive": True})],
    ids=["grey", "colour", "grey-progressive", "colour-progressive"],
)
def test_jpeg_scans_are_counted_as_the_segments_hold_them(channels, options):
    rng = np.random.default_rng(0)
    image = rng.normal(128, 40, (90, 120, channels)).squeeze()
    data = captures.encode(image, "JPEG", **options)
    assert digit_finder.jpeg_scans(tf.constant(data)).numpy() == len(_scan_ends(data))


def test_a_progressive_jpeg_of_a_thousand_scans_is_refused_before_decoding():
    """libjpeg decodes every scan, and a scan repeated is only a warning: 1,000 copies of
    the last scan of a 2000x2000 grey JPEG are ~50 kB and seconds of decoding."""
    data = captures.encode(np.full((2000, 2000), 200.0), "JPEG", progressive=True)
    last = _scan_ends(data)
    scan = data[last[-2] : last[-1]]
    bomb = data[: last[-1]] + scan * 1000 + b"\xff\xd9"
    assert len(bomb) < 60_000
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(bomb))
    assert digit_finder.error_message(error.value) == (
        "JPEG has 1006 scans; at most 75 are accepted at 2000x2000 pixels"
    )


def test_a_progressive_jpeg_reads_as_the_baseline_one(digit):
    cover, _ = _scene(digit)
    page = captures.on_paper(cover)
    baseline = find_digit(tf.constant(captures.encode(page, "JPEG", quality=90)))
    progressive = find_digit(
        tf.constant(captures.encode(page, "JPEG", quality=90, progressive=True))
    )
    np.testing.assert_array_equal(progressive.numpy(), baseline.numpy())


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"hello, not an image", "not a PNG, JPEG, GIF or BMP"),
        (lambda: b"", "not a PNG, JPEG, GIF or BMP"),
        (lambda: captures.encode(np.full((60, 60), 255.0)), "no digit found"),  # all white
        (lambda: captures.encode(np.zeros((60, 60))), "no digit found"),  # all black
        (lambda: captures.encode(np.full((60, 60), 128.0)), "no digit found"),  # blank grey
        (lambda: captures.encode(np.zeros((1, 1))), "no digit found"),  # 1x1
        (lambda: captures.encode(np.full((60, 60), 200.0) + np.arange(60) % 3), "no digit found"),
    ],
    ids=["text", "empty", "white", "black", "grey", "1x1", "faint-texture"],
)
def test_nothing_to_read_is_one_clear_error(make, message):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(make()))
    assert digit_finder.error_message(error.value).startswith(message)


def test_only_edge_marks_is_no_digit():
    """A scan of an empty page with a shadow down one side: nothing to read."""
    paper = captures.edge_shadow(np.full((200, 240), 240.0), np.random.default_rng(1))
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(captures.encode(paper)))
    assert digit_finder.error_message(error.value).startswith("no digit found")


# --- what the model is given -----------------------------------------------------------


def test_mnist_digits_as_pngs_are_read_as_they_are(test_digits):
    """MNIST's own form (28x28, white on exact black, 20 px, centred by mass) is the
    digit: every pixel comes back, for each of the fixture's test digits (as grey and as
    RGB)."""
    images = test_digits[0]
    for image in images:
        out = find_digit(tf.constant(captures.encode(image))).numpy()
        assert out.dtype == np.uint8 and np.array_equal(out, image)
    rgb = np.repeat(images[0][..., None], 3, axis=2)
    assert np.array_equal(find_digit(tf.constant(captures.encode(rgb))).numpy(), images[0])


def test_mnist_digits_drawn_dark_on_white_are_read_as_their_negatives(test_digits):
    """Black on exact white, as a paint program saves a 28x28 drawing: the negative of an
    MNIST digit is that digit, every pixel, for each of the fixture's test digits (the
    finder would frame it again and move it)."""
    for image in test_digits[0]:
        out = find_digit(tf.constant(captures.encode(255 - image))).numpy()
        assert np.array_equal(out, image)


@pytest.mark.parametrize(
    "change",
    ["shifted", "dark_on_light_shifted", "grey_background", "small", "faint", "in_29x28"],
)
def test_a_28x28_not_in_mnist_form_goes_through_the_finder(digit, change):
    """Anything short of MNIST's form is found and framed as any capture is."""
    image = {
        "shifted": lambda: np.roll(digit, 4, axis=1),
        "dark_on_light_shifted": lambda: 255 - np.roll(digit, 4, axis=1),
        "grey_background": lambda: np.maximum(digit, 30),
        "small": lambda: np.pad(digit[::2, ::2], [[7, 7], [7, 7]]),
        "faint": lambda: (digit // 2).astype(np.uint8),
        "in_29x28": lambda: np.pad(digit, [[0, 1], [0, 0]]),
    }[change]().astype(np.uint8)
    assert not digit_finder.mnist_form(
        tf.constant(image, tf.float32), tf.constant(image.shape, tf.int32)
    ).numpy()
    out = find_digit(tf.constant(captures.encode(image))).numpy().astype(float)
    ys, xs = np.indices(out.shape)
    centre = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(centre[0] - 14) <= 0.5 and abs(centre[1] - 14) <= 0.5  # framed by the finder
    assert out.max() == 255 and _similarity(out, digit) > 0.8


def test_framing_is_mnist_20x20_centred_by_mass(digit):
    cover, _ = _scene(digit)
    out = find_digit(tf.constant(captures.encode(captures.on_paper(cover)))).numpy().astype(float)
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 20
    ys, xs = np.indices(out.shape)
    centre = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(centre[0] - 14) <= 0.5 and abs(centre[1] - 14) <= 0.5  # MNIST's: index 14.0
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0


@pytest.mark.parametrize(
    "capture",
    [
        "light_on_dark",
        "colour_ink",
        "uneven_light",
        "shadow",
        "frame_line",
        "noise_jpeg",
        "canvas_black_ink",
        "canvas_white_ink",
    ],
)
def test_a_hard_capture_reads_like_a_clean_one(digit, capture):
    """The same digit in the same place: the capture must not change what the model sees."""
    cover, rng = _scene(digit)
    clean = find_digit(tf.constant(captures.encode(captures.on_paper(cover, 240, 20)))).numpy()
    grey = captures.on_paper(cover, 240, 20)
    if capture == "light_on_dark":
        encoded = captures.encode(captures.on_paper(cover, 30, 220))
    elif capture == "colour_ink":
        encoded = captures.encode(captures.colour(cover, (20, 40, 160), (250, 240, 220)))
    elif capture == "uneven_light":
        encoded = captures.encode(captures.uneven_light(grey, rng, 0.6))
    elif capture == "shadow":
        encoded = captures.encode(captures.edge_shadow(grey, rng))
    elif capture == "frame_line":
        encoded = captures.encode(captures.frame_line(grey, rng, 0))
    elif capture == "noise_jpeg":
        encoded = captures.encode(captures.noise(grey, rng, 8), "JPEG", quality=50)
    else:
        ink = 0.0 if capture == "canvas_black_ink" else 255.0
        rgba = np.zeros(cover.shape + (4,))
        rgba[..., :3] = np.where(cover[..., None] > 0, ink, 0.0)  # black under transparent
        rgba[..., 3] = 255 * cover
        encoded = captures.encode(rgba)
    out = find_digit(tf.constant(encoded)).numpy()
    assert _similarity(out, clean) > 0.9, capture


def test_a_digit_reaching_the_edge_is_kept(digit):
    """A drawing that ran off the canvas is still the digit, not an edge mark."""
    cover = captures.ink(digit, 120, np.random.default_rng(0))
    field = np.zeros((cover.shape[0] + 10, cover.shape[1] + 40))
    field[10:, 20 : 20 + cover.shape[1]] = cover  # touches the bottom edge
    out = find_digit(tf.constant(captures.encode(captures.on_paper(field)))).numpy()
    assert _similarity(out, find_digit(tf.constant(captures.encode(digit))).numpy()) > 0.8


# --- connected components: the hand-written labelling against breadth-first search -----


def label_components(mask: np.ndarray) -> np.ndarray:
    """int32 [h, w]: 0 off the mask, else one label (>= 1) per 8-connected component."""
    points = tf.cast(tf.where(mask), tf.int32)
    labels = digit_finder.label_points(points, tf.shape(mask)) + 1
    return tf.scatter_nd(points, labels, tf.shape(mask)).numpy()


def _bfs_components(mask: np.ndarray) -> list[frozenset]:
    seen, found = np.zeros_like(mask), []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start], queue, members = True, deque([start]), set()
        while queue:
            y, x = queue.popleft()
            members.add((y, x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    n = (y + dy, x + dx)
                    if (
                        0 <= n[0] < mask.shape[0]
                        and 0 <= n[1] < mask.shape[1]
                        and mask[n]
                        and not seen[n]
                    ):
                        seen[n] = True
                        queue.append(n)
        found.append(frozenset(members))
    return found


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mask=arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_labels_are_the_8_connected_components(mask):
    labels = label_components(mask)
    assert (labels > 0).tolist() == mask.tolist()
    ours = {frozenset(zip(*np.nonzero(labels == v))) for v in np.unique(labels) if v}
    assert ours == set(_bfs_components(mask))


def test_a_long_spiral_is_one_component():
    """Labels spread along runs and jump: a snake through a 61x61 field is still one."""
    mask = np.zeros((61, 61), bool)
    mask[::4, :] = True
    for i, row in enumerate(range(0, 57, 4)):
        mask[row : row + 5, 60 if i % 2 == 0 else 0] = True
    labels = label_components(mask)
    assert len(np.unique(labels[mask])) == 1


# --- numbers ---------------------------------------------------------------------------


def test_a_row_of_digits_is_split_left_to_right(test_digits):
    pixels, _ = test_digits
    row = captures.row(np.random.default_rng(3), [pixels[i] for i in range(4)], 80)
    crops, boxes, count = find_number(tf.constant(captures.encode(captures.on_paper(row))))
    assert int(count) == 4
    boxes = boxes.numpy()
    assert (np.diff(boxes[:4, 1]) > 0).all() and (boxes[4:] == 0).all()
    for i in range(4):  # each as the finder reads it alone (on paper: not MNIST's form)
        paper = captures.on_paper(pixels[i] / 255.0)
        alone = find_digit(tf.constant(captures.encode(paper))).numpy()
        assert _similarity(crops[i].numpy(), alone) > 0.8, i
    assert (crops.numpy()[4:] == 0).all()


def test_pieces_above_each_other_are_one_digit():
    """A "5" whose top bar is not joined to its body, beside a "1": two digits."""
    field = np.zeros((120, 220))
    field[20:28, 40:95] = 1  # the detached bar
    field[34:40, 40:48] = 1
    field[40:100, 40:48] = 1  # the stem
    field[60:68, 40:90] = 1  # the body's top
    field[60:100, 84:92] = 1  # its right side
    field[94:102, 40:90] = 1  # its bottom
    field[20:100, 150:160] = 1  # a "1"
    _, boxes, count = find_number(tf.constant(captures.encode(captures.on_paper(field))))
    assert int(count) == 2
    top, left = boxes.numpy()[0].tolist()[:2]
    assert abs(top - 20) <= 2 and abs(left - 40) <= 2  # the bar belongs to the first digit


# --- the builtin-only pieces equal the TensorFlow ops they stand for ---------------------
# reader.tflite is built from these functions, so they must say exactly what the ops the
# SavedModel used before said (tests/test_tflite.py checks the file has builtins only).

sizes = st.tuples(st.integers(1, 70), st.integers(1, 70))


@settings(max_examples=40, deadline=None)
@given(shape=sizes, out=sizes, seed=st.integers(0, 2**16))
def test_resizes_equal_tf_image_resize(shape, out, seed):
    image = np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
    size = tf.constant(out)
    for method, ours in [
        ("area", digit_finder.resize_area),
        ("bilinear", digit_finder.resize_bilinear),
    ]:
        theirs = tf.image.resize(image[..., None], out, method=method)[..., 0]
        np.testing.assert_allclose(ours(image, size), theirs, atol=2e-3, err_msg=method)
    theirs = tf.image.resize(image[..., None], out, method="bilinear", antialias=True)[..., 0]
    np.testing.assert_allclose(digit_finder.resize_antialiased(image, size), theirs, atol=2e-3)


def test_a_resize_reads_only_the_corner_it_is_given():
    """reader.tflite's frame: the image in the corner, anything in the rest."""
    rng = np.random.default_rng(0)
    frame = rng.uniform(0, 255, (64, 64)).astype(np.float32)
    corner = tf.constant([30, 45])
    for ours, out in [
        (digit_finder.resize_area, [12, 18]),
        (digit_finder.resize_bilinear, [60, 90]),
    ]:
        np.testing.assert_allclose(
            ours(frame, tf.constant(out), corner),
            ours(frame[:30, :45], tf.constant(out)),
            atol=1e-3,
        )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_solve_spd_is_the_ridge_least_squares_fit(seed):
    rng = np.random.default_rng(seed)
    terms = rng.uniform(-1, 1, (40, 6)).astype(np.float32)
    target = rng.uniform(0, 255, (40, 1)).astype(np.float32)
    ridge = 1e-3
    normal = terms.T @ terms + ridge * np.eye(6, dtype=np.float32)
    ours = digit_finder.solve_spd(tf.constant(normal), tf.constant(terms.T @ target))
    theirs = tf.linalg.lstsq(terms, target, l2_regularizer=ridge)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-2)


@settings(max_examples=40, deadline=None)
@given(values=arrays(np.float32, st.integers(1, 300), elements=st.floats(0, 255.5, width=32)))
def test_percentile_and_cumulative_max_match_numpy(values):
    for q in (0.1, 0.5, 0.9):
        ours = float(digit_finder.percentile(tf.constant(values), q))
        levels = np.sort(np.floor(values))
        assert ours == levels[max(int(np.ceil(q * len(values))), 1) - 1]
    ints = np.round(values).astype(np.int32)
    got = digit_finder.cumulative_max(tf.constant(ints)).numpy()
    assert got.tolist() == np.maximum.accumulate(ints).tolist()


def _longest_run_reference(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Pixel by pixel: the length of the run holding it, along rows and along columns."""
    out = np.zeros(mask.shape, bool)
    for grid, flip in ((mask, False), (mask.T, True)):
        found = np.zeros(grid.shape, bool)
        for r, row in enumerate(grid):
            c = 0
            while c < len(row):
                end = c
                while end < len(row) and row[end]:
                    end += 1
                if end > c and end - c >= fraction * len(row):
                    found[r, c:end] = True
                c = end + 1
        out |= found.T if flip else found
    return out


@settings(max_examples=60, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_long_runs_are_the_runs_of_that_length(mask):
    for fraction in (0.5, 0.9):
        ours = digit_finder.long_runs(tf.constant(mask, tf.float32), fraction).numpy() > 0
        assert ours.tolist() == _longest_run_reference(mask, fraction).tolist()


# --- the shared core answers with a status, never an error -------------------------------


@pytest.mark.parametrize(
    "grey, status",
    [
        (np.full((60, 60), 255.0), digit_finder.BLANK),
        (np.full((60, 60), 128.0), digit_finder.BLANK),
        (np.random.default_rng(0).uniform(0, 255, (200, 200)), None),  # noise: not FOUND
        (np.full((400, 6), 200.0), digit_finder.BAD_SIZE),  # a sliver
    ],
    ids=["white", "grey", "noise", "sliver"],
)
def test_nothing_to_read_is_a_status_in_the_core(grey, status):
    image, got = digit_finder.read_digit(tf.constant(grey, tf.float32))
    digits, boxes, count, got_number = digit_finder.read_number(tf.constant(grey, tf.float32))
    if status is None:
        return  # noise may hold "digits"; it must only not raise (tests/test_tflite too)
    assert int(got) == int(got_number) == status
    assert not image.numpy().any() and not digits.numpy().any() and int(count) == 0


def test_frame_grey_reads_the_corner_as_grey_of_the_image():
    rng = np.random.default_rng(1)
    rgba = rng.uniform(0, 255, (50, 70, 4)).astype(np.uint8)
    frame = np.zeros((1, 128, 128, 4), np.uint8)
    frame[0, :50, :70] = rgba
    frame[0, 60:, 80:] = 255  # the rest of the frame is no part of the image
    grey, size = digit_finder.frame_grey(tf.constant(frame), tf.constant([50, 70]))
    expected = digit_finder.grey_of(tf.constant(rgba, tf.float32))
    assert size.numpy().tolist() == [50, 70]
    np.testing.assert_allclose(grey.numpy()[:50, :70], expected, atol=1e-3)


def test_grey_of_weighs_channels_as_rgb_to_grayscale():
    rng = np.random.default_rng(2)
    rgb = rng.uniform(0, 255, (9, 11, 3)).astype(np.float32)
    expected = tf.image.rgb_to_grayscale(rgb)[..., 0]
    np.testing.assert_allclose(digit_finder.grey_of(tf.constant(rgb)), expected, atol=1e-3)
    grey_alpha = np.stack([rgb[..., 0], np.full((9, 11), 255.0, np.float32)], -1)
    np.testing.assert_allclose(
        digit_finder.grey_of(tf.constant(grey_alpha)), rgb[..., 0], atol=1e-3
    )
