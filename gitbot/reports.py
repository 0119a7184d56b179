"""What a reconcile pass reports (`PassReport`, one `TickReport` per canary), the exit statuses
of `reconcile --once`, and the crash-point test seam (`GITBOT_CRASH_AT`).

Split out of `gitbot.reconciler`, which re-exports every name (the CLI, the daemon, the
simulator and the tests import them from there).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gitbot.adapters.specs import SpecSet

CrashHook = Callable[[str], None]


def no_crash(_point: str) -> None:
    return None


def crash_hook_from_env(environ: Mapping[str, str]) -> CrashHook:
    """Test seam: `GITBOT_CRASH_AT=<point>[:<n>]` kills the process (exit 86) at the n-th time
    it reaches `point` (after-state-write, after-edit, after-commit, after-push; pull-request
    mode: after-commit is "PR recorded, not pushed", after-open "PR opened and recorded", and
    after-supersede "the `-r<n>` PR opened, the PR it replaces closed, not merged yet")."""
    spec = environ.get("GITBOT_CRASH_AT", "")
    if not spec:
        return no_crash
    point, _, nth = spec.partition(":")
    remaining = [int(nth or "1")]

    def crash(at: str) -> None:
        if at != point:
            return
        remaining[0] -= 1
        if remaining[0] == 0:
            logging.shutdown()
            os._exit(86)

    return crash


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TickReport:
    """What one tick did, for the CLI and the daemon's log."""

    canary: str
    phase: str
    commit: str = ""
    subject: str = ""
    error: str = ""
    refused: bool = False  # the remote refused a push (protected branch, hook, permissions)
    seconds: float = 0.0  # how long the tick took
    waiting: bool = False  # on its webhooks: no decision (settled after the pass, or next tick)


#: `reconcile --once` exit statuses (CONTRACT.md); 1 (gitbot could not run) is the CLI's
EXIT_OK, EXIT_INVALID, EXIT_REFUSED = 0, 2, 3


@dataclass
class PassReport:
    head: str
    specs: SpecSet
    ticks: list[TickReport] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """3 when a push was refused, else 2 when a document is invalid, else 0."""
        if any(tick.refused for tick in self.ticks):
            return EXIT_REFUSED
        return EXIT_INVALID if self.specs.problems else EXIT_OK
