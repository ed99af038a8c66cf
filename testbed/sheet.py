"""Ink and paper: an MNIST digit drawn at a size, placed in a field, and what a capture
adds to the page — light, shadow, noise, blur, a frame line — then encoded.

    ink   = the 28x28 digit cropped, scaled to the wanted height, edges sharpened
    scene = paper (or a dark board, or a transparent canvas) + ink + what the capture adds

``captures`` builds its kinds from these, ``writers`` its scenes. Pillow and NumPy only.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

Rng = np.random.Generator


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
