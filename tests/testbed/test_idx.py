"""testing/idx.py: the official files, read without tfds."""

from __future__ import annotations

from testbed.idx import read_idx


def test_the_test_files_hold_10000_digits_the_first_a_seven(manual_dir):
    images = read_idx(manual_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(manual_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == "uint8"
    assert labels.shape == (10_000,) and set(labels) == set(range(10))
    assert labels[0] == 7 and images[0].max() == 255  # MNIST's first test digit is a 7
    assert images[0, 0].max() == 0  # white ink on black: the top row is empty
