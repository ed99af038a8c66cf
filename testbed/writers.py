"""Digits as other writers make them: the styles MNIST's writers rarely used, and theirs
pushed to the edges (slant, stroke width, size), captured as people capture them.

MNIST's writers were American census staff and students; a model trained on them reads
their test digits at 99% and digits by other hands far lower, and the mistakes are about
style, not capture. This set measures that, in two families, neither of which touches
MNIST's training images:

    drawn        a digit drawn from a stroke model of one style (``STYLES``: a crossed 7,
                 a 1 with a flag and a foot, a closed 4, a 9 on a straight stem, ...):
                 each stroke a polyline in a unit box, every control point jittered,
                 the whole slanted, squeezed and turned a little, drawn with a round pen
                 of a random width (hairline to marker), then captured (``SCENES``)
    transformed  an MNIST *test* digit slanted +-15-35 degrees, drawn with a hairline or
                 a marker, written small and scanned at 8-12 px of ink, or rotated
                 (``TRANSFORMS``)

``HELD_OUT`` styles were never used to choose a training recipe: they, and the held-out
seed (``HELD_OUT_SEED``), are the check that the recipe generalises beyond what it was
chosen on (docs/captures.md).
Pillow and NumPy only: like ``captures``, this is a test set, not part of what is served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw

from testbed import captures, sheet

Rng = np.random.Generator
Point = tuple[float, float]
Stroke = list[Point]

TUNING_SEED = 1  # the writers' set recipes were chosen on
HELD_OUT_SEED = 2  # never looked at while choosing: reported beside it


# --- strokes ---------------------------------------------------------------------------


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Points along an ellipse from ``start`` to ``end`` degrees (0: right, 90: down)."""
    steps = max(4, int(abs(end - start) / 12))
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


def _narrow(strokes: list[Stroke], factor: float) -> list[Stroke]:
    return [[(0.5 + (x - 0.5) * factor, y) for x, y in stroke] for stroke in strokes]


_ONE_FLAG = [(0.28, 0.27), (0.55, 0.05), (0.55, 0.95)]
_SEVEN = [(0.15, 0.08), (0.85, 0.08), (0.42, 0.95)]
_FIVE = [[(0.8, 0.06), (0.3, 0.06), (0.26, 0.45)], arc(0.5, 0.67, 0.3, 0.27, -125, 150)]
_TWO_TOP = arc(0.5, 0.3, 0.3, 0.24, 200, 370)

# style -> (label, strokes in a unit box: x to the right, y down; the digit fills it)
STYLES: dict[str, tuple[int, list[Stroke]]] = {
    "zero_oval": (0, [arc(0.5, 0.5, 0.3, 0.45, -90, 275)]),
    "zero_slashed": (0, [arc(0.5, 0.5, 0.3, 0.45, -90, 275), [(0.78, 0.12), (0.22, 0.88)]]),
    "one_stick": (1, [[(0.52, 0.05), (0.48, 0.95)]]),
    "one_flag": (1, [_ONE_FLAG]),
    "one_flag_foot": (1, [_ONE_FLAG, [(0.28, 0.95), (0.82, 0.95)]]),
    "two_plain": (2, [_TWO_TOP + [(0.15, 0.95), (0.88, 0.95)]]),
    "two_looped": (
        2,
        [_TWO_TOP + [(0.3, 0.8)] + arc(0.3, 0.86, 0.1, 0.08, -90, 250) + [(0.88, 0.93)]],
    ),
    "three_round": (
        3,
        [arc(0.47, 0.28, 0.3, 0.23, -160, 90), arc(0.47, 0.72, 0.33, 0.24, -90, 160)],
    ),
    "three_flat_top": (
        3,
        [[(0.18, 0.06), (0.8, 0.06), (0.42, 0.42)] + arc(0.47, 0.7, 0.33, 0.26, -90, 160)],
    ),
    "four_closed": (4, [[(0.66, 0.95), (0.66, 0.05), (0.12, 0.66), (0.9, 0.66)]]),
    "four_open": (4, [[(0.25, 0.05), (0.2, 0.62), (0.88, 0.62)], [(0.66, 0.28), (0.66, 0.95)]]),
    "four_open_round": (
        4,
        [
            [(0.22, 0.05), (0.2, 0.35)]
            + arc(0.45, 0.38, 0.25, 0.22, 180, 0)
            + [(0.72, 0.1), (0.72, 0.6), (0.7, 0.95)]
        ],
    ),
    "five_plain": (5, _FIVE),
    "five_narrow": (5, _narrow(_FIVE, 0.55)),
    "six_loop": (
        6,
        [[(0.72, 0.05), (0.42, 0.3), (0.27, 0.62)] + arc(0.5, 0.72, 0.24, 0.22, 180, 535)],
    ),
    "seven_plain": (7, [_SEVEN]),
    "seven_crossed": (7, [_SEVEN, [(0.36, 0.52), (0.84, 0.52)]]),
    "eight_loops": (8, [arc(0.5, 0.27, 0.24, 0.21, 90, 450), arc(0.5, 0.72, 0.3, 0.24, -90, 270)]),
    "nine_straight": (9, [arc(0.45, 0.3, 0.28, 0.24, -10, 355), [(0.73, 0.25), (0.73, 0.95)]]),
    "nine_curved": (
        9,
        [arc(0.52, 0.2, 0.19, 0.16, -10, 355), [(0.71, 0.2), (0.7, 0.5), (0.6, 0.8), (0.35, 0.96)]],
    ),
    # Added to the set after the others (drawn after them: ``KINDS``).
    "zero_narrow": (0, [arc(0.5, 0.5, 0.14, 0.46, -90, 275)]),
    "one_long_flag_foot": (
        1,
        [[(0.2, 0.35), (0.55, 0.05), (0.55, 0.95)], [(0.3, 0.95), (0.8, 0.95)]],
    ),
}
# Two styles kept out of every choice of recipe: a 0 a third as wide as it is tall,
# and a 1 whose flag starts low, with a foot (a printed 1). They were added to the set
# together: of 22 candidate styles, the two keras.io's model read under 95% that are
# hands, not drawing artefacts (docs/captures.md); no recipe was chosen with them.
# (The slashed 0 and the closed 4 were the held-out pair before them: once the recipe
# draws those strokes they are taught, not held out.)
HELD_OUT = ("zero_narrow", "one_long_flag_foot")
# Styles added after the set was first drawn: drawn after the transforms, so every earlier
# kind's digits stay the same (whatever is held out later).
ADDED = ("zero_narrow", "one_long_flag_foot")


def jittered(rng: Rng, strokes: list[Stroke]) -> list[np.ndarray]:
    """One writer's hand: the digit bent by a smooth random warp (a hand's wobble: loops
    stay loops), each corner moved a little, then slanted, squeezed or widened, and turned
    a few degrees; points as [n, 2] arrays in [0, 1]."""
    shear = rng.uniform(-0.3, 0.3)
    squeeze = rng.uniform(0.75, 1.15)
    turn = np.radians(rng.uniform(-8, 8))
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    waves = rng.uniform(0.5, 1.5, (2, 2)) * np.pi  # spatial frequencies of the warp
    phases = rng.uniform(0, 2 * np.pi, (2, 2))
    amplitude = rng.uniform(0.02, 0.05)
    out = []
    for stroke in strokes:
        points = np.asarray(stroke, np.float64)
        warp = amplitude * np.sin(points[:, ::-1, None] * waves + phases).sum(-1) / 2
        points = points + warp + rng.normal(0, 0.02, 2)  # each stroke placed a little off
        if len(points) <= 6:  # corners of a polyline: each drawn where the hand put it
            points += rng.normal(0, 0.02, points.shape)
        centred = points - 0.5
        centred[:, 0] = (centred[:, 0] - shear * centred[:, 1]) * squeeze
        out.append(centred @ rotation.T + 0.5)
    return out


def _smooth(points: np.ndarray, per_segment: int = 6) -> np.ndarray:
    """A Catmull-Rom curve through the points: hands draw curves, not corners-only lines
    (a corner meant as one, as in a 4 or a 7, stays sharp enough at pen width)."""
    if len(points) < 3:
        return points
    padded = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    curve = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1 : i + 3]
        curve.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (3 * p1 - p0 - 3 * p2 + p3) * t**3
            )
        )
    return np.vstack([*curve, points[-1:]])


def draw(strokes: list[np.ndarray], height: int, pen: float, supersample: int = 4) -> np.ndarray:
    """Ink coverage [height, ~0.8 height] of strokes drawn with a round pen ``pen`` times
    the digit's height wide, anti-aliased by drawing ``supersample`` times larger."""
    scale = height * supersample
    margin = pen * scale
    points = [_smooth(s) * scale + margin for s in strokes]
    every = np.vstack(points)
    width = int(np.ceil(every[:, 0].max() + margin))
    size = (max(width, int(margin * 2) + 1), int(np.ceil(every[:, 1].max() + margin)))
    image = Image.new("L", size, 0)
    pen_px = max(1, round(pen * scale))
    canvas = ImageDraw.Draw(image)
    for stroke in points:
        canvas.line([tuple(p) for p in stroke], fill=255, width=pen_px, joint="curve")
        for x, y in stroke[[0, -1]]:  # round caps
            r = pen_px / 2
            canvas.ellipse([x - r, y - r, x + r, y + r], fill=255)
    small = image.resize(
        (max(1, size[0] // supersample), max(1, size[1] // supersample)), Image.Resampling.BOX
    )
    coverage = np.asarray(small, np.float64) / 255
    rows, cols = np.flatnonzero(coverage.max(1) > 0.1), np.flatnonzero(coverage.max(0) > 0.1)
    return coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# --- scenes: how a drawn digit reaches the model -----------------------------------------


def _framed(cover: np.ndarray, rng: Rng) -> np.ndarray:
    """The digit on a page a little larger than it, off-centre."""
    h, w = cover.shape
    H, W = int(h * rng.uniform(1.3, 2.0)) + 4, int(max(h, w) * rng.uniform(1.3, 2.0)) + 4
    field = np.zeros((H, W))
    top, left = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
    field[top : top + h, left : left + w] = cover
    return field


def scan(rng: Rng, cover: np.ndarray) -> tuple[bytes, str]:
    """A flatbed scan: clean paper, a little sensor noise, PNG."""
    grey = sheet.on_paper(_framed(cover, rng), rng.uniform(225, 252), rng.uniform(10, 70))
    return sheet.encode(sheet.noise(grey, rng, 2)), ".png"


def photo(rng: Rng, cover: np.ndarray) -> tuple[bytes, str]:
    """A phone photo under a lamp: uneven light, noise, JPEG."""
    grey = sheet.on_paper(_framed(cover, rng), rng.uniform(190, 240), rng.uniform(20, 80))
    grey = sheet.noise(sheet.uneven_light(grey, rng, rng.uniform(0.2, 0.45)), rng, 4)
    return sheet.encode(grey, "JPEG", quality=int(rng.integers(60, 92))), ".jpg"


def canvas(rng: Rng, cover: np.ndarray) -> tuple[bytes, str]:
    """Drawn on a screen: white on black or black on white, exact levels, PNG."""
    grey = sheet.on_paper(_framed(cover, rng), 0.0, 255.0)
    return sheet.encode(grey if rng.random() < 0.5 else 255 - grey), ".png"


def low_res_scan(rng: Rng, cover: np.ndarray) -> tuple[bytes, str]:
    """Written small and scanned at low resolution: the whole digit in 8-12 pixels."""
    height = int(rng.integers(8, 13))
    width = max(1, round(cover.shape[1] * height / cover.shape[0]))
    small = Image.fromarray(np.round(cover * 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BOX
    )
    grey = sheet.on_paper(
        _framed(np.asarray(small, np.float64) / 255, rng), rng.uniform(215, 250), 20
    )
    return sheet.encode(sheet.noise(grey, rng, 2)), ".png"


SCENES: dict[str, Callable[[Rng, np.ndarray], tuple[bytes, str]]] = {
    "scan": scan,
    "photo": photo,
    "canvas": canvas,
    "low_res_scan": low_res_scan,
}
PENS = (0.03, 0.2)  # pen width as a share of the digit's height: hairline to marker


def drawn(rng: Rng, style: str) -> tuple[bytes, str, str]:
    """One capture of a digit of ``style``: (encoded, suffix, scene)."""
    _, strokes = STYLES[style]
    pen = float(np.exp(rng.uniform(*np.log(PENS))))
    cover = draw(jittered(rng, strokes), int(rng.integers(48, 140)), pen)
    scene = list(SCENES)[int(rng.integers(len(SCENES)))]
    encoded, suffix = SCENES[scene](rng, cover)
    return encoded, suffix, scene


# --- MNIST test digits pushed to the edges of their writers' styles ---------------------


def _slanted(rng: Rng, digit: np.ndarray) -> np.ndarray:
    cover = sheet.ink(digit, int(rng.integers(60, 130)), rng)
    shear = np.tan(np.radians(rng.uniform(15, 35))) * rng.choice([-1, 1])
    h, w = cover.shape
    extra = int(abs(shear) * h) + 2
    image = Image.fromarray(np.round(cover * 255).astype(np.uint8)).transform(
        (w + extra, h),
        Image.Transform.AFFINE,
        (1, shear, -extra / 2 - shear * h / 2 + 1, 0, 1, 0),
        resample=Image.Resampling.BICUBIC,
    )
    return np.asarray(image, np.float64) / 255


def _pen(rng: Rng, digit: np.ndarray, grow: bool) -> np.ndarray:
    height = int(rng.integers(100, 180))
    size = 2 * int(height * (0.035 if grow else 0.025)) + 1
    return captures._filtered(sheet.ink(digit, height, rng), size, grow)


def _rotated(rng: Rng, digit: np.ndarray) -> np.ndarray:
    angle = rng.uniform(15, 30) * rng.choice([-1, 1])
    return sheet.ink(digit, int(rng.integers(60, 130)), rng, rotate=angle)


TRANSFORMS: dict[str, Callable[[Rng, np.ndarray], np.ndarray]] = {
    "mnist_slanted": _slanted,
    "mnist_hairline": lambda rng, digit: _pen(rng, digit, grow=False),
    "mnist_marker": lambda rng, digit: _pen(rng, digit, grow=True),
    "mnist_rotated": _rotated,
}


def transformed(rng: Rng, kind: str, digit: np.ndarray) -> tuple[bytes, str]:
    """An MNIST test digit pushed to an edge of its style; ``mnist_small`` is scanned at
    8-12 px of ink, the others scanned or photographed at a readable size."""
    if kind == "mnist_small":
        return low_res_scan(rng, sheet.ink(digit, 112, rng))
    cover = TRANSFORMS[kind](rng, digit)
    return (scan if rng.random() < 0.5 else photo)(rng, cover)


# How a writer of one style draws the other digits: each digit's plain form.
PLAIN = {
    0: "zero_oval",
    1: "one_stick",
    2: "two_plain",
    3: "three_round",
    4: "four_open",
    5: "five_plain",
    6: "six_loop",
    7: "seven_plain",
    8: "eight_loops",
    9: "nine_straight",
}


def found_digits(
    find: Callable[[bytes], np.ndarray | None], style: str, count: int, seed: int
) -> np.ndarray:
    """``count`` drawings of ``style`` (from ``seed``) as ``find`` frames them: ``find``
    maps an encoded capture to its 28x28 digit, or None where it finds none (not counted)."""
    rng, out = np.random.default_rng(seed), []
    while len(out) < count:
        encoded, _, _ = drawn(rng, style)
        digit = find(encoded)
        if digit is not None:
            out.append(digit)
    return np.stack(out)


# Kinds are drawn in this order, from one random stream per seed: styles added later
# come last, so the set's earlier kinds are the same digits they always were.
KINDS = (*(s for s in STYLES if s not in ADDED), *TRANSFORMS, "mnist_small", *ADDED)


def writers_set(
    images: np.ndarray, labels: np.ndarray, per_kind: int, seed: int, kinds=KINDS
) -> Iterator[tuple[str, int, bytes, str, int]]:
    """Yields ``(kind, index, encoded, suffix, label)``: ``per_kind`` captures of each
    style and transform. ``images`` uint8 [N, 28, 28] must be MNIST *test* digits."""
    rng = np.random.default_rng(seed)
    for kind in kinds:
        for index in range(per_kind):
            if kind in STYLES:
                encoded, suffix, _ = drawn(rng, kind)
                yield kind, index, encoded, suffix, STYLES[kind][0]
            else:
                chosen = int(rng.integers(len(images)))
                encoded, suffix = transformed(rng, kind, images[chosen])
                yield kind, index, encoded, suffix, int(labels[chosen])
