"""contract.py: the statuses the finder answers with, and the sentences that go with them."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet import contract
from mnist_convnet.finder import find, refusals
from testbed import sheet
from tests.helpers import find_digit


def test_every_status_has_its_own_reason():
    statuses = [
        contract.FOUND,
        contract.BLANK,
        contract.NO_WRITING,
        contract.TOO_MANY,
        contract.BAD_SIZE,
        contract.NOISE,
    ]
    assert statuses == list(range(len(contract.REASONS)))
    assert contract.REASONS[contract.FOUND] == ""
    assert len(set(contract.REASONS)) == len(contract.REASONS)


@pytest.mark.parametrize(
    "grey, status",
    [
        (np.full((60, 60), 250.0), contract.BLANK),
        (np.clip(128 + np.random.default_rng(0).normal(0, 20, (480, 640)), 0, 255), contract.NOISE),
        (np.full((600, 8), 250.0), contract.BAD_SIZE),
    ],
    ids=["blank", "noise", "sliver"],
)
def test_the_saved_model_refuses_with_the_reason_the_reader_returns(grey, status):
    """One sentence for one status, whichever graph says it."""
    _, got = find.read_digit(tf.constant(grey, tf.float32))
    assert int(got) == status
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        find_digit(tf.constant(sheet.encode(grey)))
    assert refusals.error_message(error.value) == contract.REASONS[status]


@pytest.mark.parametrize(
    "top, second, hard",
    [(0.99, 0.01, False), (0.95, 0.05, False), (0.85, 0.1, True), (0.92, 0.0, False)],
)
def test_a_reading_is_hard_when_unsure_or_nearly_tied(top, second, hard):
    rest = (1 - top - second) / 8
    assert contract.is_hard([top, second] + [rest] * 8) is hard
    # A runner-up within the margin is hard however sure the top looks on its own.
    assert contract.is_hard([0.91, 0.45] + [0.0] * 8)


def test_signature_names_are_written_only_in_the_contract():
    """Every module names a signature by its ``contract.SERVING_*`` constant: a literal
    elsewhere is a name that a rename would miss."""
    import re
    from pathlib import Path

    from mnist_convnet import contract

    package = Path(contract.__file__).parent
    literal = re.compile(r"""(["'])serving_(default|images|number|float|explain)\1""")
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if path.name != "contract.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert found == []


def test_input_names_are_the_contracts_where_signatures_are_built():
    """The export names a signature's inputs (its TensorSpecs, its warm-up requests) by
    ``contract``'s names: a literal "pixels" or "images" there is an input a rename would
    miss."""
    import re
    from pathlib import Path

    from mnist_convnet import contract

    package = Path(contract.__file__).parent
    names = sorted({n for inputs in contract.SIGNATURE_INPUTS.values() for n in inputs})
    literal = re.compile(r"""(["'])({})\1""".format("|".join(names)))
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in (package / "export").glob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert found == []
