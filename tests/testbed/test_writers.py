"""testing/writers.py: the writers' set is what it says, and the same for the same seed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from testbed import writers
from testbed.idx import read_idx


@pytest.fixture(scope="module")
def test_images(manual_dir):
    images = read_idx(manual_dir / "t10k-images-idx3-ubyte.gz")[5000:5200]
    labels = read_idx(manual_dir / "t10k-labels-idx1-ubyte.gz")[5000:5200]
    return images, labels


def _ink_rows(encoded: bytes) -> int:
    """Rows holding ink: darker than the paper by half the contrast (or lighter, on black)."""
    grey = np.asarray(Image.open(io.BytesIO(encoded)).convert("L"), np.float64)
    paper = np.median(grey)
    ink = np.abs(grey - paper) > 0.5 * np.abs(grey - paper).max()
    return int(ink.any(1).sum())


def test_every_kind_yields_decodable_images_with_the_right_labels(test_images):
    items = list(writers.writers_set(*test_images, per_kind=2, seed=0))
    assert [kind for kind, *_ in items] == [k for k in writers.KINDS for _ in range(2)]
    images, labels = test_images
    for kind, _, encoded, suffix, label in items:
        Image.open(io.BytesIO(encoded)).verify()
        assert suffix in (".png", ".jpg")
        if kind in writers.STYLES:
            assert label == writers.STYLES[kind][0]
        else:
            assert label in labels


def test_the_same_seed_makes_the_same_set_and_the_held_out_seed_another(test_images):
    first = [e for _, _, e, _, _ in writers.writers_set(*test_images, 1, writers.TUNING_SEED)]
    again = [e for _, _, e, _, _ in writers.writers_set(*test_images, 1, writers.TUNING_SEED)]
    other = [e for _, _, e, _, _ in writers.writers_set(*test_images, 1, writers.HELD_OUT_SEED)]
    assert first == again
    assert sum(a != b for a, b in zip(first, other)) == len(first)


def test_every_style_covers_the_ten_digits_and_two_are_held_out():
    assert {label for label, _ in writers.STYLES.values()} == set(range(10))
    assert len(writers.HELD_OUT) >= 2 and set(writers.HELD_OUT) <= set(writers.STYLES)


def test_low_resolution_scans_hold_the_digit_in_8_to_12_pixels():
    rng = np.random.default_rng(3)
    heights = []
    for style in ("one_flag_foot", "seven_crossed", "eight_loops"):
        cover = writers.draw(writers.jittered(rng, writers.STYLES[style][1]), 100, 0.08)
        for _ in range(5):
            encoded, _ = writers.low_res_scan(rng, cover)
            heights.append(_ink_rows(encoded))
    assert min(heights) >= 7 and max(heights) <= 13, heights


def test_a_crossed_seven_has_its_bar_and_a_plain_one_does_not():
    """The stroke model draws what the style names: a crossed 7's middle rows hold a
    horizontal run of ink much wider than the plain 7's single diagonal stroke there."""

    def widest_middle_run(style: str) -> float:
        strokes = writers.STYLES[style][1]
        cover = writers.draw([np.asarray(s) for s in strokes], 100, 0.06)  # no jitter
        middle = cover[int(0.45 * len(cover)) : int(0.6 * len(cover))] > 0.5
        return middle.sum(1).max() / cover.shape[1]

    assert widest_middle_run("seven_crossed") > 2.5 * widest_middle_run("seven_plain")


def test_pens_run_from_hairline_to_marker():
    strokes = [np.asarray(s) for s in writers.STYLES["one_stick"][1]]
    thin = writers.draw(strokes, 100, writers.PENS[0])
    thick = writers.draw(strokes, 100, writers.PENS[1])
    assert thick.sum() > 4 * thin.sum()


def test_found_digits_counts_only_what_the_finder_found_and_repeats_from_its_seed():
    calls = []

    def find(encoded: bytes):
        calls.append(encoded)
        return None if len(calls) % 2 else np.full((28, 28), len(calls), np.uint8)

    digits = writers.found_digits(find, "seven_crossed", 3, seed=5)
    assert digits.shape == (3, 28, 28) and len(calls) == 6
    assert [int(d[0, 0]) for d in digits] == [2, 4, 6]
    again = []
    writers.found_digits(lambda e: again.append(e) or np.zeros((28, 28)), "seven_crossed", 6, 5)
    assert again == calls
    assert set(writers.PLAIN) == set(range(10))
    assert all(writers.STYLES[style][0] == digit for digit, style in writers.PLAIN.items())
