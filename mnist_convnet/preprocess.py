"""A user's photo or drawing of a digit -> a 28x28 MNIST-style image.

MNIST digits are white on black, fitted into a 20x20 box (aspect ratio kept) and placed
in a 28x28 field so that their centre of mass sits at the centre. Users' images are any
size, any colour and usually dark ink on light paper, so:

    decode (first frame) -> grey -> invert if the background is light -> crop to the ink
    -> scale the longer side to 20 px -> paste into 28x28 centred by mass

Every way an image can be unusable raises ``ImageError`` with a sentence that says why.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_convnet.errors import UserError

MAX_PIXELS = 25_000_000  # 5000x5000; a larger image is refused before it is decoded
MAX_BYTES = 50 * 1024 * 1024


class ImageError(UserError):
    """This file cannot be read as a digit."""


def _grey(image: Image.Image) -> np.ndarray:
    """float [H, W] in [0, 255] from any mode: palette, CMYK, 16-bit, alpha (on white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 or image.mode.startswith("I;16") else 255.0
        return np.clip(array / top * 255.0, 0, 255)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        return np.clip(array * (255.0 if array.max() <= 1.0 else 1.0), 0, 255)
    if "A" in image.getbands() or image.mode == "P" and "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64)


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """float grey [H, W] 0-255 (any polarity) -> uint8 [28, 28], white digit on black."""
    def background(a: np.ndarray) -> float:
        return float(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))

    if background(grey) > 127:  # light background: dark ink on paper
        grey = 255.0 - grey
    grey = np.clip(grey - background(grey), 0, 255)
    if grey.max() < 32:
        raise ImageError("no digit found (the image is blank or has almost no contrast)")
    ink = grey > 0.2 * grey.max()
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    crop = crop * (255.0 / crop.max())

    height, width = crop.shape
    scale = 20.0 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(
        Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    )
    small = np.clip(small, 0, 255)

    # Centre of mass of the 20-px digit goes to (14, 14) of the 28x28 field.
    total = small.sum()
    ys, xs = np.indices(small.shape)
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    top = int(np.clip(round(14 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - small.shape[1]))
    field = np.zeros((28, 28))
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.round(field).astype(np.uint8)


def load_digit(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as an MNIST-style uint8 [28, 28] digit, or raises ImageError."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError("empty file")
        if path.stat().st_size > MAX_BYTES:
            raise ImageError(f"file larger than {MAX_BYTES // 2**20} MB")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"image is {width}x{height}; at most {MAX_PIXELS:,} pixels are accepted"
                    )
                image.seek(0)  # first frame of an animation
                image = ImageOps.exif_transpose(image)
                image.load()
                grey = _grey(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except IsADirectoryError:
        raise ImageError("is a folder") from None
    except UnidentifiedImageError:
        raise ImageError("not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, ...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"refused as a decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"cannot decode image: {error}") from None
    return to_mnist(grey)
