"""The finder's tests' fixture: one MNIST test digit."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def digit(test_digits) -> np.ndarray:
    return test_digits[0][0]
