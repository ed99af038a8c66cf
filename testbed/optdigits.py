"""Real digits by writers who are not MNIST's: the UCI optical-recognition test set.

The writers' set (``writers``) is drawn from stroke models this project wrote; this one
was written by people. scikit-learn ships it inside its wheel
(``sklearn.datasets.load_digits``, nothing downloaded): 1,797 digits by 13 writers,
NIST's forms, each digit's 32x32 bitmap counted in 4x4 blocks, so an 8x8 image whose
pixels say how many of 16 were inked (Alpaydin and Kaynak, UCI, 1998). That is a digit
written small and scanned at low resolution, by hands MNIST never saw.

Each digit is put on paper (ink counts as grey, a margin of paper around it) and encoded
as a PNG, in two kinds:

    uci_8px       as the set has it: the digit in 8 pixels
    uci_enlarged  the same enlarged 4 times (bilinear), as a viewer or a scanner's
                  software shows a small image

No seed, no sample: every digit, in the set's order. Nothing was ever chosen by this set
(docs/captures.md): it says how the recipes chosen on the others read real hands.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from testbed import sheet

KINDS = ("uci_8px", "uci_enlarged")
MARGIN = 4  # pixels of paper around the 8x8 digit
ENLARGE = 4


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The set's ink (float [1797, 8, 8] in [0, 1]: inked share of each block) and labels."""
    from sklearn.datasets import load_digits  # a test dependency, loaded when asked for

    found = load_digits()
    return found.images / 16.0, found.target.astype(np.int64)


def on_paper(ink: np.ndarray, kind: str) -> bytes:
    """One digit's ink (float [8, 8]) as a PNG of dark ink on white paper."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    grey = np.round(255 * (1.0 - np.pad(ink, MARGIN))).astype(np.uint8)
    if kind == "uci_enlarged":
        side = grey.shape[0] * ENLARGE
        grey = np.asarray(Image.fromarray(grey).resize((side, side), Image.Resampling.BILINEAR))
    return sheet.encode(grey)


def optdigits_set(
    count: int | None = None, kinds=KINDS
) -> Iterator[tuple[str, int, bytes, str, int]]:
    """Yields ``(kind, index, encoded, suffix, label)`` as ``writers.writers_set`` does:
    the first ``count`` digits of the set (all of them by default) in each kind."""
    ink, labels = digits()
    for kind in kinds:
        for index in range(len(ink) if count is None else min(count, len(ink))):
            yield kind, index, on_paper(ink[index], kind), ".png", int(labels[index])
