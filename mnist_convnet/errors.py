"""The one exception type that means "the user gave us something we cannot use".

Command-line entry points catch it, print its message on one line and exit with
``EXIT_USAGE`` instead of showing a traceback: a missing data file or a bad flag is the
user's to fix, and a stack trace would only hide the sentence that says how.
"""

import contextlib
import sys
from collections.abc import Iterator

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the input (files, flags, images, requests), with a readable message."""

    exit_code = EXIT_USAGE


class DataError(UserError):
    """The MNIST files are missing, truncated or not the files tfds expects."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an error's message (at most ``limit`` characters), or its
    type's name when the message is empty: libraries raise both, and a one-line error
    report must not fail on either."""
    for line in str(error).strip().splitlines():
        return line.strip()[:limit]
    return type(error).__name__


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """For command-line mains: a ``UserError`` becomes ``error: <message>`` and its exit
    code (2 unless the error says otherwise)."""
    try:
        yield
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
