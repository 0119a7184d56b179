"""SIGTERM/SIGINT for the daemon's main thread, whichever thread the kernel delivers them to.

Called by `gitbot.daemon.run_daemon`. A signal sent to the process goes to any of its threads
that does not block it. CPython's C-level handler only flags it; the Python handler runs when
the MAIN thread next returns to the interpreter, and a main thread parked in `Event.wait()`
without a timeout is only woken when the signal happened to land on it. When it landed on the
Git worker or the HTTP thread instead, the daemon never noticed SIGTERM and was killed at the
end of the grace period. Here the C-level handler also writes the signal's number to a pipe
(`signal.set_wakeup_fd`), from whichever thread it ran on, and the main thread waits on that
pipe (and looks again every `POLL_SECONDS` in any case).

The Python handler only records the number: no logging, no lock, since it runs between any two
bytecodes of the main thread (possibly while that thread holds a logging or `Event` lock). The
caller logs once `wait` returned.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

POLL_SECONDS = 1.0  # the longest the main thread sleeps without looking at `received`

_Handler = Callable[[int, FrameType | None], Any] | int | None


class StopSignals:
    """The first SIGTERM/SIGINT received; `install` and `wait` from the main thread only."""

    def __init__(self, signums: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signums = frozenset(signums)
        self.received = 0  # the first of `signums` that arrived; 0 until then
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous: dict[int, _Handler] = {}
        self._previous_fd: int | None = None

    def install(self) -> StopSignals:
        """Handle `signums` from now on (call it before anything can be interrupted)."""
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in self.signums:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._note)
        return self

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        if not self.received:
            self.received = signum

    def wait(self, timeout: float | None = None) -> int:
        """Block until one of `signums` arrived: its number, or 0 after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.received:
            left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self._read], [], [], min(left, POLL_SECONDS))
            if ready:
                self._drain()
        return self.received

    def _drain(self) -> None:
        """Read the numbers the C-level handler wrote (other signals' too: ignored here)."""
        try:
            data = os.read(self._read, 512)
        except BlockingIOError:
            return
        for signum in data:
            if signum in self.signums and not self.received:
                self.received = signum

    def close(self) -> None:
        """Give the signals and the wakeup fd back to their previous owners."""
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()
        if self._previous_fd is not None:
            signal.set_wakeup_fd(self._previous_fd)
            self._previous_fd = None
        for fd in (self._read, self._write):
            os.close(fd)
