"""MNIST digits captured the ways people really capture them: photos, scans, canvases.

The model is trained on MNIST; people send phone photos, scans and drawings. To measure
what users get, we render MNIST *test* digits (never training digits) as such captures:

    ink   = the 28x28 digit cropped, scaled to the wanted height (``sheet.py``)
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

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from testbed import sheet

Rng = np.random.Generator
Kind = Callable[[Rng, list[np.ndarray]], tuple[bytes, str]]


# --- the kinds -------------------------------------------------------------------------


def _height(rng: Rng, low: int = 40, high: int = 140) -> int:
    return int(rng.integers(low, high + 1))


def _jpeg(array: np.ndarray, rng: Rng, low: int = 35, high: int = 90) -> tuple[bytes, str]:
    return sheet.encode(array, "JPEG", quality=int(rng.integers(low, high + 1))), ".jpg"


def clean(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Dark ink on white paper, off-centre, in one of the four formats TF decodes."""
    grey = sheet.on_paper(
        sheet.writing(rng, digits, _height(rng)), rng.uniform(225, 255), rng.uniform(0, 60)
    )
    fmt = ["PNG", "JPEG", "GIF", "BMP"][int(rng.integers(4))]
    suffix = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp"}[fmt]
    return sheet.encode(grey, fmt, **({"quality": 90} if fmt == "JPEG" else {})), suffix


def light_on_dark(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Chalk on a board, or MNIST's own polarity: light ink on a dark background."""
    cover = sheet.writing(rng, digits, _height(rng))
    grey = sheet.on_paper(cover, rng.uniform(0, 70), rng.uniform(190, 255))
    return sheet.encode(sheet.noise(grey, rng, rng.uniform(0, 6))), ".png"


def colour_ink(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Blue, red or green ink on white or tinted paper."""
    cover = sheet.writing(rng, digits, _height(rng))
    inks = [(20, 40, 160), (180, 20, 30), (10, 110, 40), (90, 30, 120)]
    rgb = inks[int(rng.integers(len(inks)))]
    paper = tuple(rng.uniform(215, 255, 3))
    return sheet.encode(sheet.colour(cover, rgb, paper)), ".png"


def wide_frame(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A small digit in a large picture: a quick photo that did not zoom in."""
    height = _height(rng, 30, 70)
    frame = (int(height * rng.uniform(3, 6)), int(height * rng.uniform(4, 8)))
    grey = sheet.on_paper(
        sheet.writing(rng, digits, height, frame), rng.uniform(200, 250), rng.uniform(10, 70)
    )
    return _jpeg(sheet.noise(grey, rng, 2), rng, 70, 92)


def canvas(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """What an HTML canvas or a drawing app exports: ink on a transparent background.

    The colour channels under the transparent pixels are whatever the app left there
    (usually black), so dropping alpha reads black ink on black.
    """
    cover = sheet.writing(rng, digits, _height(rng, 60, 200))
    inks = [(0, 0, 0), (0, 0, 0), (255, 255, 255), (30, 60, 200), (200, 30, 30)]
    rgb = np.asarray(inks[int(rng.integers(len(inks)))], np.float64)
    under = 0.0 if rng.random() < 0.8 else 255.0
    rgba = np.empty(cover.shape + (4,))
    rgba[..., :3] = np.where(cover[..., None] > 0, rgb, under)
    rgba[..., 3] = 255 * cover
    return sheet.encode(rgba), ".png"


def phone_photo(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Grey pencil or faded ink on paper, lamp to one side, sensor noise, JPEG."""
    cover = sheet.writing(rng, digits, _height(rng, 60, 180))
    grey = sheet.on_paper(cover, rng.uniform(170, 235), rng.uniform(50, 110))
    grey = sheet.uneven_light(grey, rng, rng.uniform(0.3, 0.6))
    grey = sheet.blur(grey, rng.uniform(0.3, 1.2))
    grey = sheet.noise(grey, rng, rng.uniform(3, 9))
    tint = rng.uniform(0.9, 1.05, 3)
    return _jpeg(grey[..., None] * tint, rng, 50, 85)


def scan_shadow(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A scan or photocopy with a dark shadow fading in along one edge."""
    cover = sheet.writing(rng, digits, _height(rng))
    grey = sheet.edge_shadow(sheet.on_paper(cover, rng.uniform(215, 250), rng.uniform(10, 60)), rng)
    return _jpeg(sheet.noise(grey, rng, 2), rng, 75, 95)


def rotated(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Written at a slant or photographed tilted: up to 15 degrees either way."""
    cover = sheet.writing(rng, digits, _height(rng), rotate=rng.uniform(-15, 15))
    return sheet.encode(sheet.on_paper(cover, rng.uniform(220, 255), rng.uniform(0, 60))), ".png"


def low_contrast(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Light pencil on grey paper: 30-60 grey levels between ink and paper."""
    paper = rng.uniform(140, 220)
    grey = sheet.on_paper(
        sheet.writing(rng, digits, _height(rng)), paper, paper - rng.uniform(30, 60)
    )
    return sheet.encode(sheet.noise(grey, rng, 1.5)), ".png"


def salt_pepper(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A dusty scan: 1-4% of the pixels flipped to black or white."""
    grey = sheet.on_paper(
        sheet.writing(rng, digits, _height(rng, 60, 160)), rng.uniform(220, 250), 20
    )
    return sheet.encode(sheet.salt_and_pepper(grey, rng, rng.uniform(0.01, 0.04))), ".png"


def blurred(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Out of focus: a Gaussian blur of 2-5% of the digit's height."""
    height = _height(rng, 50, 150)
    grey = sheet.on_paper(
        sheet.writing(rng, digits, height), rng.uniform(220, 250), rng.uniform(0, 50)
    )
    return sheet.encode(sheet.blur(grey, height * rng.uniform(0.02, 0.05))), ".png"


def framed(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A digit written in a box of a form: a thin frame line around it."""
    height = _height(rng)
    side = int(height * rng.uniform(1.5, 2.2))
    cover = sheet.writing(rng, digits, height, (side, side), centred=True)
    grey = sheet.on_paper(cover, rng.uniform(220, 250), rng.uniform(0, 50))
    return sheet.encode(sheet.frame_line(grey, rng, rng.uniform(0, 120))), ".png"


def tiny(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """10-24 px digits: a thumbnail, or a digit cut from a low-resolution scan."""
    height = _height(rng, 10, 24)
    grey = sheet.on_paper(
        sheet.writing(rng, digits, height), rng.uniform(215, 255), rng.uniform(0, 50)
    )
    return sheet.encode(grey), ".png"


def huge(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """200-400 px digits: a close-up with a modern phone."""
    height = _height(rng, 200, 400)
    grey = sheet.on_paper(
        sheet.writing(rng, digits, height), rng.uniform(200, 250), rng.uniform(0, 60)
    )
    return _jpeg(sheet.noise(grey, rng, 3), rng, 70, 92)


def number_clean(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    grey = sheet.on_paper(
        sheet.row(rng, digits, _height(rng, 40, 90)), rng.uniform(225, 255), rng.uniform(0, 50)
    )
    return sheet.encode(grey), ".png"


def number_photo(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    grey = sheet.on_paper(
        sheet.row(rng, digits, _height(rng, 40, 100)), rng.uniform(170, 235), rng.uniform(40, 100)
    )
    grey = sheet.uneven_light(grey, rng, rng.uniform(0.3, 0.6))
    grey = sheet.noise(sheet.blur(grey, rng.uniform(0.3, 1.0)), rng, rng.uniform(3, 8))
    return _jpeg(grey, rng, 55, 85)


def number_canvas(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    cover = sheet.row(rng, digits, _height(rng, 50, 120))
    rgba = np.zeros(cover.shape + (4,))
    rgba[..., 3] = 255 * cover
    return sheet.encode(rgba), ".png"


def number_scan(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    cover = sheet.row(rng, digits, _height(rng, 40, 90))
    grey = sheet.edge_shadow(sheet.on_paper(cover, rng.uniform(215, 250), rng.uniform(10, 60)), rng)
    return _jpeg(sheet.noise(grey, rng, 2), rng, 75, 95)


# --- kinds the digit-finder was never tuned on -------------------------------------------


def _filtered(coverage: np.ndarray, size: int, grow: bool) -> np.ndarray:
    """Ink coverage made fatter (max filter) or thinner (min filter) by ``size`` pixels."""
    image = Image.fromarray(np.round(coverage * 255).astype(np.uint8))
    image = image.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
    return np.asarray(image, np.float64) / 255


def ruled_paper(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A notebook page: pale blue lines every ~40% of the digit's height run through it."""
    height = _height(rng, 60, 140)
    cover = sheet.writing(rng, digits, height)
    page = sheet.colour(cover, (25, 25, 40), (250, 250, 245))
    spacing = max(6, int(height * rng.uniform(0.35, 0.5)))
    start = int(rng.integers(spacing))
    page[start::spacing] = np.minimum(page[start::spacing], (165, 190, 235))  # behind the ink
    return sheet.encode(page), ".png"


def desk_photo(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A sheet photographed on a dark desk: the desk shows along one or two edges."""
    height = _height(rng, 50, 120)
    frame = (int(height * rng.uniform(2.5, 3.5)), int(height * rng.uniform(3, 4.5)))
    cover = sheet.writing(rng, digits, height, frame, centred=True)
    grey = sheet.on_paper(cover, rng.uniform(190, 235), rng.uniform(20, 80))
    H, W = frame
    desk = rng.uniform(25, 80)
    grey[:, : int(W * rng.uniform(0.04, 0.15))] = desk
    if rng.random() < 0.5:
        grey[: int(H * rng.uniform(0.04, 0.12))] = desk
    grey = sheet.noise(sheet.uneven_light(grey, rng, rng.uniform(0.2, 0.4)), rng, rng.uniform(2, 6))
    return _jpeg(grey, rng, 60, 90)


def marker(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A fat felt-tip marker: strokes two to three times as wide."""
    height = _height(rng, 80, 160)
    cover = _filtered(sheet.writing(rng, digits, height), 2 * int(height * 0.03) + 1, grow=True)
    return sheet.encode(sheet.on_paper(cover, rng.uniform(225, 255), rng.uniform(0, 50))), ".png"


def thin_pen(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """A fine ballpoint photographed close up: thin strokes on a large digit."""
    height = _height(rng, 150, 260)
    cover = _filtered(sheet.writing(rng, digits, height), 2 * int(height * 0.025) + 1, grow=False)
    return _jpeg(
        sheet.noise(sheet.on_paper(cover, rng.uniform(215, 250), rng.uniform(10, 70)), rng, 2),
        rng,
        75,
        92,
    )


def sheared(rng: Rng, digits: list[np.ndarray]) -> tuple[bytes, str]:
    """Photographed at an angle: the page sheared and squashed (an affine stand-in for
    perspective)."""
    grey = sheet.on_paper(
        sheet.writing(rng, digits, _height(rng, 60, 140)), rng.uniform(220, 250), rng.uniform(0, 50)
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
    return sheet.encode(np.asarray(image, np.float64)), ".png"


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
