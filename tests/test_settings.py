"""settings.py: one declaration a setting, checked alike wherever it is made."""

from __future__ import annotations

import dataclasses

import pytest

from mnist_convnet import settings
from mnist_convnet.errors import UserError


@dataclasses.dataclass(frozen=True)
class Example:
    rate: float = settings.option(0.5, "A rate.", above=0, below=1)
    count: int = settings.option(1, "A count.", at_least=1)
    kind: str = settings.option("a", "A kind.", choices=("a", "b"))

    def __post_init__(self) -> None:
        settings.check(self)


def test_rules_and_the_int_for_a_float():
    assert Example(rate=0.25).rate == 0.25
    for bad, message in [
        ({"rate": 1}, "rate must be less than 1"),
        ({"rate": 0}, "rate must be greater than 0"),
        ({"count": 0}, "count must be at least 1"),
        ({"count": True}, "count must be int"),
        ({"kind": "c"}, "kind must be one of a, b"),
    ]:
        with pytest.raises(UserError, match=message):
            Example(**bad)


def test_batching_options_use_the_same_rules_and_sentences():
    from mnist_convnet.serving.batching import BatchingOptions

    with pytest.raises(UserError, match="max_batch_size must be at least 1, not 0"):
        BatchingOptions(max_batch_size=0)
    with pytest.raises(UserError, match="batch_timeout_micros must be int"):
        BatchingOptions(batch_timeout_micros=0.5)
