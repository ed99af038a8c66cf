"""background.py: the ink told from the paper, whatever the light and the polarity."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet.finder import background


def _page(dark_ink: bool, lamp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A 160x200 page with a 6-px "1" down its middle, lit by a lamp from the left that
    brightens the paper by up to ``lamp`` grey levels; and where the stroke is."""
    stroke = np.zeros((160, 200), bool)
    stroke[30:130, 97:103] = True
    light = lamp * np.linspace(1.0, 0.0, 200)[None, :] * np.ones((160, 1))
    paper, ink = (150.0, 40.0) if dark_ink else (40.0, 200.0)
    grey = np.where(stroke, ink, paper) + light
    return np.clip(grey, 0, 255).astype(np.float32), stroke


@pytest.mark.parametrize("lamp", [0.0, 90.0])
@pytest.mark.parametrize("dark_ink", [True, False])
def test_polarity_is_read_against_the_light(dark_ink, lamp):
    grey, _ = _page(dark_ink, lamp)
    assert bool(background.polarity_dark_ink(tf.constant(grey))) == dark_ink


def test_illumination_follows_the_lamp_not_the_digit():
    grey, stroke = _page(True, lamp=90.0)
    surface = background.illumination(tf.constant(grey)).numpy()
    paper = grey[~stroke]
    # The surface tracks the paper's gradient (left bright, right dark) within a few levels.
    assert surface[:, 5].mean() - surface[:, -5].mean() == pytest.approx(85, abs=10)
    assert np.abs(surface[~stroke] - paper).mean() < 6


def test_the_ink_stands_above_a_threshold_the_lit_paper_stays_below():
    grey, stroke = _page(True, lamp=90.0)
    ink = background.remove_background(tf.constant(grey), tf.constant(True))
    threshold, peak, floor = (float(x) for x in background.ink_threshold(ink))
    ink = ink.numpy()
    assert peak > background.MIN_CONTRAST and peak > background.STANDS_OUT * floor
    assert (ink[stroke] > threshold).mean() > 0.95
    assert (ink[~stroke] > threshold).mean() < 0.01
