"""A user's image file -> bytes the SavedModel's digit-finder can read, or a clear error.

The digit-finder (``finder/``) runs inside the SavedModel and reads PNG, JPEG, GIF
and BMP with TensorFlow's decoders. ``mnist-convnet predict`` sends it those files as they
are. Pillow steps in only where TensorFlow cannot read a file faithfully, turning it into
a PNG for the same graph:

    TIFF, WebP, PGM, ...        other formats
    CMYK, YCbCr, LAB            other colour spaces
    16-bit and float greys      TensorFlow would keep only the high byte
    palette with transparency   TensorFlow's GIF decoder drops transparency
    EXIF orientation            phones store photos sideways and say so in EXIF

Pillow also keeps its safety checks: files over MAX_BYTES, images over MAX_PIXELS (the
same limit the graph applies from the header) and decompression bombs are refused before
decoding. Every way a file can be unusable raises ``ImageError`` with a sentence saying why.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_convnet.contract import MAX_PIXELS
from mnist_convnet.errors import UserError

MAX_BYTES = 50 * 1024 * 1024
TF_FORMATS = {"PNG", "JPEG", "GIF", "BMP"}
TF_MODES = {"1", "L", "LA", "RGB", "RGBA", "P"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".pgm"}
EXIF_ORIENTATION = 0x0112


def expand(paths: list[str]) -> list[Path]:
    """Files as given; folders replaced by the image files inside them, sorted. A folder
    with none stays itself, so that reading it says so instead of printing nothing."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        images = path.is_dir() and sorted(
            p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )
        found += images or [path]
    return found


class ImageError(UserError):
    """This file cannot be read as a digit."""


def tf_reads_as_is(image: Image.Image) -> bool:
    """True when TensorFlow decodes this file to what Pillow would show."""
    transparent_palette = image.mode == "P" and "transparency" in image.info
    rotated = image.getexif().get(EXIF_ORIENTATION, 1) != 1
    return (
        image.format in TF_FORMATS
        and image.mode in TF_MODES
        and not transparent_palette
        and not rotated
    )


def _readable(image: Image.Image) -> Image.Image:
    """Any Pillow image -> L, RGB or RGBA that a PNG holds without losing what matters."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 1.0 if image.mode == "F" and array.max() <= 1.0 else 255.0
        if image.mode.startswith("I;16") or array.max() > 255:
            top = 65535.0
        return Image.fromarray(np.clip(np.round(array / top * 255.0), 0, 255).astype(np.uint8))
    if "A" in image.getbands() or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("L" if image.mode in ("1", "L") else "RGB")


@contextlib.contextmanager
def opened(path: str | os.PathLike) -> Iterator[tuple[bytes, Image.Image]]:
    """The bytes of ``path`` and Pillow's image of them, checked before decoding (empty,
    over MAX_BYTES, over MAX_PIXELS, a decompression bomb); any failure, also while the
    caller decodes inside the ``with``, is one ImageError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise ImageError("empty file")
        if size > MAX_BYTES:
            raise ImageError(f"file larger than {MAX_BYTES // 2**20} MB")
        data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"image is {width}x{height}; at most {MAX_PIXELS:,} pixels are accepted"
                    )
                yield data, image
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except IsADirectoryError:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise ImageError(f"a folder with no image files in it ({kinds})") from None
    except UnidentifiedImageError:
        raise ImageError(
            "not an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, ...)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"refused as a decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"cannot decode image: {error}") from None


def upright(image: Image.Image) -> Image.Image:
    """The first frame, turned as its EXIF orientation says, decoded, in a mode a PNG
    holds (L, RGB or RGBA) without losing what matters."""
    image.seek(0)  # first frame of an animation
    image = ImageOps.exif_transpose(image)
    image.load()
    return _readable(image)


def encoded_image(path: str | os.PathLike) -> bytes:
    """The bytes to send to the digit-finder for ``path``, or raises ImageError."""
    with opened(path) as (data, image):
        if tf_reads_as_is(image):
            return data
        buffer = io.BytesIO()
        upright(image).save(buffer, format="PNG")
        return buffer.getvalue()
