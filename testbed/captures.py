"""MNIST digits captured the ways people really capture them: photos, scans, canvases.

The model is trained on MNIST; people send phone photos, scans and drawings. To measure
what users get, we render MNIST *test* digits (never training digits) as such captures:

    ink   = the 28x28 digit cropped, scaled to the wanted height, edges sharpened
    scene = paper (or a dark board, or a transparent canvas) + ink + what the capture adds:
            uneven light, a shadow, sensor noise, blur, rotation, a frame line, JPEG

Every kind is a function ``(rng, digits) -> (encoded bytes, file suffix)``; single-digit
kinds take one digit, number kinds a row of 2-8. ``render`` picks by name, so tests,
``bench/captures.py`` and anyone checking their own pipeline draw from the same set.
``UNSEEN`` kinds were added after the digit-finder was tuned and are kept out of tuning:
they say whether the finder generalises beyond the captures it was developed on.
Pillow and NumPy only: this is a *test* set, not part of what is served.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Rng = np.random.Generator
Kind = Callable[[Rng, list[np.ndarray]], tuple[bytes, str]]


# --- ink -------------------------------------------------------------------------------


def ink(digit: np.ndarray, height: int, rng: Rng, rotate: float = 0.0) -> np.ndarray:
    """uint8 [28, 28] MNIST digit -> float ink coverage [h, w] in [0, 1], ``height`` rows.

    MNIST strokes are soft (anti-aliased at 20 px); a pen's are sharp. Upscaling and then
    a smoothstep around half coverage gives pen-like edges at any size.
    """
    rows, cols = np.flatnonzero(digit.max(1) > 30), np.flatnonzero(digit.max(0) > 30)
    crop = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    image = Image.fromarray(crop)
    if rotate:
        image = image.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True)
    width = max(1, round(image.width * height / image.height))
    big = np.asarray(image.resize((width, height), Image.Resampling.BICUBIC), np.float64) / 255
    if height >= 40:  # sharpen: real pens are not blurry at this size
        big = np.clip((big - 0.25) / 0.5, 0, 1)
        big = big * big * (3 - 2 * big)
    return np.clip(big, 0, 1)


def _place(field: np.ndarray, coverage: np.ndarray, top: int, left: int) -> None:
    """Adds ink coverage into ``field`` (max), clipped at the field's edges."""
    h, w = coverage.shape
    H, W = field.shape
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + h, H), min(left + w, W)
    if t1 > t0 and l1 > l0:
        part = coverage[t0 - top : t1 - top, l0 - left : l1 - left]
        np.maximum(field[t0:t1, l0:l1], part, out=field[t0:t1, l0:l1])


def single(
    rng: Rng,
    digit: np.ndarray,
    height: int,
    frame: tuple[int, int] | None = None,
    centred: bool = False,
    rotate: float = 0.0,
) -> np.ndarray:
    """Ink coverage of one digit in a frame (default 1.3-2.2x the digit), off-centre."""
    cover = ink(digit, height, rng, rotate)
    h, w = cover.shape
    if frame is None:
        side = int(height * rng.uniform(1.3, 2.2)) + 4
        frame = (side, max(side, w + 4))
    H, W = frame
    if centred:
        top, left = (H - h) // 2, (W - w) // 2
    else:
        top = int(rng.integers(1, max(2, H - h - 1)))
        left = int(rng.integers(1, max(2, W - w - 1)))
    field = np.zeros(frame)
    _place(field, cover, top, left)
    return field


def row(rng: Rng, digits: list[np.ndarray], height: int, rotate: float = 0.0) -> np.ndarray:
    """Ink coverage of digits written left to right, as people write a number."""
    covers = [ink(d, height, rng, rotate) for d in digits]
    gaps = [int(height * rng.uniform(0.12, 0.45)) for _ in covers]
    margin = int(height * rng.uniform(0.3, 0.8)) + 3
    width = sum(c.shape[1] for c in covers) + sum(gaps) + 2 * margin
    H = height + 2 * margin
    field = np.zeros((H, width))
    x = margin
    for cover, gap in zip(covers, gaps):
        jitter = int(rng.integers(-height // 10, height // 10 + 1))
        _place(field, cover, margin + jitter, x)
        x += cover.shape[1] + gap
    return field


def writing(
    rng: Rng,
    digits: list[np.ndarray],
    height: int,
    frame: tuple[int, int] | None = None,
    centred: bool = False,
    rotate: float = 0.0,
) -> np.ndarray:
    """One digit (``single``) or, given several, a ``row`` of them in a frame that fits it.

    Every capture kind draws its ink with this, so each kind also exists for numbers
    (``number_<kind>``) under the same conditions.
    """
    if len(digits) == 1:
        return single(rng, digits[0], height, frame, centred, rotate)
    field = row(rng, digits, height, rotate)
    if frame is None:
        return field
    H, W = max(frame[0], field.shape[0]), max(frame[1], field.shape[1])
    top = (H - field.shape[0]) // 2 if centred else int(rng.integers(0, H - field.shape[0] + 1))
    left = (W - field.shape[1]) // 2 if centred else int(rng.integers(0, W - field.shape[1] + 1))
    framed_field = np.zeros((H, W))
    _place(framed_field, field, top, left)
    return framed_field


# --- scenes ----------------------------------------------------------------------------


def on_paper(coverage: np.ndarray, paper: float = 245.0, ink_level: float = 20.0) -> np.ndarray:
    """Grey float image: ``ink_level`` where covered, ``paper`` elsewhere."""
    return paper + (ink_level - paper) * coverage


def uneven_light(grey: np.ndarray, rng: Rng, strength: float) -> np.ndarray:
    """A lamp off to one side: a linear gradient times a vignette, up to ``strength``."""
    H, W = grey.shape
    y, x = np.mgrid[0:H, 0:W]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (x / W - 0.5) + np.sin(angle) * (y / H - 0.5)) + 0.5
    cy, cx = rng.uniform(0.2, 0.8) * H, rng.uniform(0.2, 0.8) * W
    vignette = ((y - cy) / H) ** 2 + ((x - cx) / W) ** 2
    light = 1 - strength * np.clip(0.7 * ramp + 0.8 * vignette, 0, 1)
    return grey * light


def edge_shadow(grey: np.ndarray, rng: Rng) -> np.ndarray:
    """A scanner lid or a hand: a dark band fading in from one edge."""
    H, W = grey.shape
    side = int(rng.integers(4))
    length = H if side < 2 else W
    across = W if side < 2 else H
    depth = rng.uniform(0.08, 0.2) * across
    t = np.arange(across, dtype=np.float64)
    profile = 1 - rng.uniform(0.75, 0.92) * np.clip(1 - t / depth, 0, 1) ** 0.6
    profile = profile[::-1] if side % 2 else profile
    shade = np.tile(profile, (length, 1))
    return grey * (shade if side < 2 else shade.T)


def noise(grey: np.ndarray, rng: Rng, sigma: float) -> np.ndarray:
    return grey + rng.normal(0, sigma, grey.shape)


def salt_and_pepper(grey: np.ndarray, rng: Rng, amount: float) -> np.ndarray:
    out = grey.copy()
    hits = rng.random(grey.shape)
    out[hits < amount / 2] = 0
    out[hits > 1 - amount / 2] = 255
    return out


def blur(grey: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (edges extended), in float so no level is rounded away."""
    half = max(1, int(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in (0, 1):
        padded = np.pad(grey, [(half, half) if a == axis else (0, 0) for a in (0, 1)], "edge")
        grey = np.apply_along_axis(np.convolve, axis, padded, taps, mode="valid")
    return grey


def frame_line(grey: np.ndarray, rng: Rng, level: float) -> np.ndarray:
    """A thin box drawn around the content, inset from the image's edge (a form field)."""
    H, W = grey.shape
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    inset = int(rng.integers(1, max(2, min(H, W) // 12)))
    width = max(1, min(H, W) // 60)
    ImageDraw.Draw(image).rectangle(
        [inset, inset, W - 1 - inset, H - 1 - inset], outline=int(level), width=width
    )
    return np.asarray(image, np.float64)


def encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None, **options) -> bytes:
    """Clipped uint8 array -> encoded bytes of ``fmt`` (PNG, JPEG, GIF, BMP)."""
    image = Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8))
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def colour(
    coverage: np.ndarray, rgb: tuple[float, ...], paper_rgb: tuple[float, ...]
) -> np.ndarray:
    """RGB image: ``rgb`` ink on ``paper_rgb`` paper by coverage."""
    c = coverage[..., None]
    return np.asarray(paper_rgb) * (1 - c) + np.asarray(rgb) * c


# --- the kinds -------------------------------------------------------------------------


def _height(rng: Rng, low: int = 40, high: int = 140) -> int:
    return int(rng.integers(low, high + 1))


def _jpeg(array: np.ndarray, rng: Rng, low: int = 35, high: int = 90) -> tuple[bytes, str]:
    return encode(array, "JPEG", quality=int(rng.integers(low, high + 1))), ".jpg"


def clean(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Dark ink on white paper, off-centre, in one of the four formats TF decodes."""
    grey = on_paper(writing(rng, digits, _height(rng)), rng.uniform(225, 255), rng.uniform(0, 60))
    fmt = ["PNG", "JPEG", "GIF", "BMP"][int(rng.integers(4))]
    suffix = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp"}[fmt]
    return encode(grey, fmt, **({"quality": 90} if fmt == "JPEG" else {})), suffix


def light_on_dark(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Chalk on a board, or MNIST's own polarity: light ink on a dark background."""
    cover = writing(rng, digits, _height(rng))
    grey = on_paper(cover, rng.uniform(0, 70), rng.uniform(190, 255))
    return encode(noise(grey, rng, rng.uniform(0, 6))), ".png"


def colour_ink(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Blue, red or green ink on white or tinted paper."""
    cover = writing(rng, digits, _height(rng))
    inks = [(20, 40, 160), (180, 20, 30), (10, 110, 40), (90, 30, 120)]
    rgb = inks[int(rng.integers(len(inks)))]
    paper = tuple(rng.uniform(215, 255, 3))
    return encode(colour(cover, rgb, paper)), ".png"


def wide_frame(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A small digit in a large picture: a quick photo that did not zoom in."""
    height = _height(rng, 30, 70)
    frame = (int(height * rng.uniform(3, 6)), int(height * rng.uniform(4, 8)))
    grey = on_paper(writing(rng, digits, height, frame), rng.uniform(200, 250), rng.uniform(10, 70))
    return _jpeg(noise(grey, rng, 2), rng, 70, 92)


def canvas(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """What an HTML canvas or a drawing app exports: ink on a transparent background.

    The colour channels under the transparent pixels are whatever the app left there
    (usually black), so dropping alpha reads black ink on black.
    """
    cover = writing(rng, digits, _height(rng, 60, 200))
    inks = [(0, 0, 0), (0, 0, 0), (255, 255, 255), (30, 60, 200), (200, 30, 30)]
    rgb = np.asarray(inks[int(rng.integers(len(inks)))], np.float64)
    under = 0.0 if rng.random() < 0.8 else 255.0
    rgba = np.empty(cover.shape + (4,))
    rgba[..., :3] = np.where(cover[..., None] > 0, rgb, under)
    rgba[..., 3] = 255 * cover
    return encode(rgba), ".png"


def phone_photo(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Grey pencil or faded ink on paper, lamp to one side, sensor noise, JPEG."""
    cover = writing(rng, digits, _height(rng, 60, 180))
    grey = on_paper(cover, rng.uniform(170, 235), rng.uniform(50, 110))
    grey = uneven_light(grey, rng, rng.uniform(0.3, 0.6))
    grey = blur(grey, rng.uniform(0.3, 1.2))
    grey = noise(grey, rng, rng.uniform(3, 9))
    tint = rng.uniform(0.9, 1.05, 3)
    return _jpeg(grey[..., None] * tint, rng, 50, 85)


def scan_shadow(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A scan or photocopy with a dark shadow fading in along one edge."""
    cover = writing(rng, digits, _height(rng))
    grey = edge_shadow(on_paper(cover, rng.uniform(215, 250), rng.uniform(10, 60)), rng)
    return _jpeg(noise(grey, rng, 2), rng, 75, 95)


def rotated(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Written at a slant or photographed tilted: up to 15 degrees either way."""
    cover = writing(rng, digits, _height(rng), rotate=rng.uniform(-15, 15))
    return encode(on_paper(cover, rng.uniform(220, 255), rng.uniform(0, 60))), ".png"


def low_contrast(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Light pencil on grey paper: 30-60 grey levels between ink and paper."""
    paper = rng.uniform(140, 220)
    grey = on_paper(writing(rng, digits, _height(rng)), paper, paper - rng.uniform(30, 60))
    return encode(noise(grey, rng, 1.5)), ".png"


def salt_pepper(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A dusty scan: 1-4% of the pixels flipped to black or white."""
    grey = on_paper(writing(rng, digits, _height(rng, 60, 160)), rng.uniform(220, 250), 20)
    return encode(salt_and_pepper(grey, rng, rng.uniform(0.01, 0.04))), ".png"


def blurred(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Out of focus: a Gaussian blur of 2-5% of the digit's height."""
    height = _height(rng, 50, 150)
    grey = on_paper(writing(rng, digits, height), rng.uniform(220, 250), rng.uniform(0, 50))
    return encode(blur(grey, height * rng.uniform(0.02, 0.05))), ".png"


def framed(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A digit written in a box of a form: a thin frame line around it."""
    height = _height(rng)
    side = int(height * rng.uniform(1.5, 2.2))
    cover = writing(rng, digits, height, (side, side), centred=True)
    grey = on_paper(cover, rng.uniform(220, 250), rng.uniform(0, 50))
    return encode(frame_line(grey, rng, rng.uniform(0, 120))), ".png"


def tiny(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """10-24 px digits: a thumbnail, or a digit cut from a low-resolution scan."""
    height = _height(rng, 10, 24)
    grey = on_paper(writing(rng, digits, height), rng.uniform(215, 255), rng.uniform(0, 50))
    return encode(grey), ".png"


def huge(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """200-400 px digits: a close-up with a modern phone."""
    height = _height(rng, 200, 400)
    grey = on_paper(writing(rng, digits, height), rng.uniform(200, 250), rng.uniform(0, 60))
    return _jpeg(noise(grey, rng, 3), rng, 70, 92)


def number_clean(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    grey = on_paper(
        row(rng, digits, _height(rng, 40, 90)), rng.uniform(225, 255), rng.uniform(0, 50)
    )
    return encode(grey), ".png"


def number_photo(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    grey = on_paper(
        row(rng, digits, _height(rng, 40, 100)), rng.uniform(170, 235), rng.uniform(40, 100)
    )
    grey = uneven_light(grey, rng, rng.uniform(0.3, 0.6))
    grey = noise(blur(grey, rng.uniform(0.3, 1.0)), rng, rng.uniform(3, 8))
    return _jpeg(grey, rng, 55, 85)


def number_canvas(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    cover = row(rng, digits, _height(rng, 50, 120))
    rgba = np.zeros(cover.shape + (4,))
    rgba[..., 3] = 255 * cover
    return encode(rgba), ".png"


def number_scan(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    cover = row(rng, digits, _height(rng, 40, 90))
    grey = edge_shadow(on_paper(cover, rng.uniform(215, 250), rng.uniform(10, 60)), rng)
    return _jpeg(noise(grey, rng, 2), rng, 75, 95)


# --- kinds the digit-finder was never tuned on -------------------------------------------


def _filtered(coverage: np.ndarray, size: int, grow: bool) -> np.ndarray:
    """Ink coverage made fatter (max filter) or thinner (min filter) by ``size`` pixels."""
    image = Image.fromarray(np.round(coverage * 255).astype(np.uint8))
    image = image.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
    return np.asarray(image, np.float64) / 255


def ruled_paper(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A notebook page: pale blue lines every ~40% of the digit's height run through it."""
    height = _height(rng, 60, 140)
    cover = writing(rng, digits, height)
    page = colour(cover, (25, 25, 40), (250, 250, 245))
    spacing = max(6, int(height * rng.uniform(0.35, 0.5)))
    start = int(rng.integers(spacing))
    page[start::spacing] = np.minimum(page[start::spacing], (165, 190, 235))  # behind the ink
    return encode(page), ".png"


def desk_photo(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A sheet photographed on a dark desk: the desk shows along one or two edges."""
    height = _height(rng, 50, 120)
    frame = (int(height * rng.uniform(2.5, 3.5)), int(height * rng.uniform(3, 4.5)))
    cover = writing(rng, digits, height, frame, centred=True)
    grey = on_paper(cover, rng.uniform(190, 235), rng.uniform(20, 80))
    H, W = frame
    desk = rng.uniform(25, 80)
    grey[:, : int(W * rng.uniform(0.04, 0.15))] = desk
    if rng.random() < 0.5:
        grey[: int(H * rng.uniform(0.04, 0.12))] = desk
    grey = noise(uneven_light(grey, rng, rng.uniform(0.2, 0.4)), rng, rng.uniform(2, 6))
    return _jpeg(grey, rng, 60, 90)


def marker(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A fat felt-tip marker: strokes two to three times as wide."""
    height = _height(rng, 80, 160)
    cover = _filtered(writing(rng, digits, height), 2 * int(height * 0.03) + 1, grow=True)
    return encode(on_paper(cover, rng.uniform(225, 255), rng.uniform(0, 50))), ".png"


def thin_pen(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A fine ballpoint photographed close up: thin strokes on a large digit."""
    height = _height(rng, 150, 260)
    cover = _filtered(writing(rng, digits, height), 2 * int(height * 0.025) + 1, grow=False)
    return _jpeg(
        noise(on_paper(cover, rng.uniform(215, 250), rng.uniform(10, 70)), rng, 2), rng, 75, 92
    )


def sheared(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Photographed at an angle: the page sheared and squashed (an affine stand-in for
    perspective)."""
    grey = on_paper(
        writing(rng, digits, _height(rng, 60, 140)), rng.uniform(220, 250), rng.uniform(0, 50)
    )
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    shear, squash = rng.uniform(-0.3, 0.3), rng.uniform(0.75, 1.0)
    image = image.transform(
        image.size,
        Image.Transform.AFFINE,
        (1 / squash, shear, 0, 0, 1, 0),
        resample=Image.Resampling.BICUBIC,
        fillcolor=int(grey[0, 0]),
    )
    return encode(np.asarray(image, np.float64)), ".png"


UNSEEN: dict[str, Kind] = {
    "ruled_paper": ruled_paper,
    "desk_photo": desk_photo,
    "marker": marker,
    "thin_pen": thin_pen,
    "sheared": sheared,
}

SINGLE: dict[str, Kind] = {
    "clean": clean,
    "light_on_dark": light_on_dark,
    "colour_ink": colour_ink,
    "wide_frame": wide_frame,
    "canvas": canvas,
    "phone_photo": phone_photo,
    "scan_shadow": scan_shadow,
    "rotated": rotated,
    "low_contrast": low_contrast,
    "salt_pepper": salt_pepper,
    "blurred": blurred,
    "framed": framed,
    "tiny": tiny,
    "huge": huge,
}
NUMBERS: dict[str, Kind] = {
    "clean": number_clean,
    "photo": number_photo,
    "canvas": number_canvas,
    "scan": number_scan,
}


def render(kind: str, rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """One capture of ``digits``: one for a single kind, 2-8 for ``number_<kind>`` (the
    four ``NUMBERS`` scenes, or any single or unseen kind's scene holding a row)."""
    base = kind.removeprefix("number_")
    if kind.startswith("number_") and base in NUMBERS:
        return NUMBERS[base](rng, digits)
    return {**SINGLE, **UNSEEN}[base](rng, digits)


def capture_set(
    images: np.ndarray,
    labels: np.ndarray,
    kinds: list[str],
    per_kind: int,
    seed: int,
    digits_per_number: tuple[int, int] = (2, 5),
):
    """Yields ``(kind, index, encoded, suffix, label)``; label is a string of digits.

    ``images`` uint8 [N, 28, 28] should be MNIST *test* digits. Digits are drawn at random
    (with the seed) from them; numbers take ``digits_per_number`` digits (inclusive).
    """
    rng = np.random.default_rng(seed)
    for kind in kinds:
        for index in range(per_kind):
            count = int(rng.integers(digits_per_number[0], digits_per_number[1] + 1))
            count = count if kind.startswith("number_") else 1
            chosen = rng.integers(0, len(images), count)
            encoded, suffix = render(kind, rng, [images[i] for i in chosen])
            yield kind, index, encoded, suffix, "".join(str(int(labels[i])) for i in chosen)
