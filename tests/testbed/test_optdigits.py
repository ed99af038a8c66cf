"""testbed/optdigits.py: the UCI writers' digits, every one, on paper at 8 px and enlarged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from testbed import optdigits


def _grey(encoded: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("L"), np.float64)


def test_the_set_is_its_1797_digits_about_as_many_of_each():
    ink, labels = optdigits.digits()
    assert ink.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert ink.min() == 0.0 and ink.max() == 1.0
    assert set(labels.tolist()) == set(range(10))
    assert min(np.bincount(labels)) >= 170  # about as many of each digit


def test_a_digit_is_dark_ink_on_white_paper_in_8_pixels_or_enlarged_4_times():
    ink, _ = optdigits.digits()
    small = _grey(optdigits.on_paper(ink[0], "uci_8px"))
    side = 8 + 2 * optdigits.MARGIN
    assert small.shape == (side, side)
    np.testing.assert_array_equal(
        small[optdigits.MARGIN : -optdigits.MARGIN, optdigits.MARGIN : -optdigits.MARGIN],
        np.round(255 * (1 - ink[0])),
    )
    assert small[: optdigits.MARGIN].min() == 255  # the margin is paper
    enlarged = _grey(optdigits.on_paper(ink[0], "uci_enlarged"))
    assert enlarged.shape == (side * optdigits.ENLARGE, side * optdigits.ENLARGE)
    shrunk = enlarged.reshape(side, optdigits.ENLARGE, side, optdigits.ENLARGE).mean((1, 3))
    assert np.abs(shrunk - small).mean() < 10  # the same digit, larger


def test_every_kind_yields_each_digit_in_order_with_its_label():
    _, labels = optdigits.digits()
    items = list(optdigits.optdigits_set(count=3))
    assert [(kind, index) for kind, index, *_ in items] == [
        (kind, i) for kind in optdigits.KINDS for i in range(3)
    ]
    assert [label for *_, label in items] == labels[:3].tolist() * len(optdigits.KINDS)
    assert {suffix for _, _, _, suffix, _ in items} == {".png"}
    assert len(list(optdigits.optdigits_set(kinds=("uci_8px",)))) == 1797


def test_an_unknown_kind_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown kind"):
        optdigits.on_paper(np.zeros((8, 8)), "uci_64px")
