"""Turning SIGTERM and SIGINT into "finish these steps, checkpoint, then stop".

A scheduler's SIGTERM (or Ctrl-C) should cost a training run nothing but time. While a
``StopOnSignal`` block is active, either signal only sets a flag; the loop checks it after
every call of its training function (``--steps_per_call`` steps, 10 by default, about half a
second here), saves a checkpoint and raises ``Interrupted``. A second Ctrl-C while that
happens is ignored rather than leaving a half-written checkpoint.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from mnist_convnet.errors import UserError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(UserError):
    """Training stopped on a signal after saving a checkpoint; exit 128 + signal number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class StopOnSignal:
    """Context manager: records SIGTERM/SIGINT instead of dying; ``.signum`` says which."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum

    def __call__(self) -> int | None:
        return self.signum

    def __enter__(self) -> StopOnSignal:
        # Signal handlers can only be installed from the main thread; elsewhere (a test
        # runner's worker thread) there is nothing to catch, and training runs as usual.
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
