"""errors.py: one-line error reports from any exception, whatever its message."""

from __future__ import annotations

from mnist_convnet.errors import first_line


def test_first_line_of_an_empty_message_is_the_type_name():
    assert first_line(ValueError()) == "ValueError"
    assert first_line(OSError("")) == "OSError"
    assert first_line(KeyError("\n  \n")) != ""


def test_first_line_skips_blank_lines_and_is_bounded():
    assert first_line(ValueError("\n\n  checksum mismatch  \nsecond")) == "checksum mismatch"
    assert len(first_line(ValueError("x" * 1000))) == 300
