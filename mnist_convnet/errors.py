"""The one exception type that means "the user gave us something we cannot use".

Command-line entry points catch it, print its message on one line and exit with
``EXIT_USAGE`` instead of showing a traceback: a missing data file or a bad flag is the
user's to fix, and a stack trace would only hide the sentence that says how.
"""

import contextlib
import sys
from typing import Iterator

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the input (files, flags, images, requests), with a readable message."""

    exit_code = EXIT_USAGE


class DataError(UserError):
    """The MNIST files are missing, truncated or not the files tfds expects."""


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """For command-line mains: a ``UserError`` becomes ``error: <message>`` and its exit
    code (2 unless the error says otherwise)."""
    try:
        yield
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
