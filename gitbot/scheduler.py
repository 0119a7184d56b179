"""When each canary ticks: one schedule for all canaries, driven by the daemon's cycle.

Called by `gitbot.daemon`. Each canary has a phase inside its interval taken from a hash of its
key, so 1,000 canaries with a 1-minute interval are spread over the minute instead of all firing
in the same second, and a canary keeps its phase across restarts. The daemon asks `due()` every
cycle and gives every due canary its tick in ONE pass (one sync, one read of the repository,
one query per metric). A canary whose tick was late (a slow pass) is due once, not once per
missed interval, and then returns to its own phase. A canary seen for the first time is due at
once (all of them share the daemon's first pass). Time is a float in seconds from `clock`
(monotonic by default; tests pass a fake one).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping


def phase(key: str, interval: float) -> float:
    """The canary's offset inside its interval: stable, spread evenly by a hash of the key."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


class CanarySchedule:
    """Next due time of every canary; not thread-safe (the daemon's one worker owns it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._interval: dict[str, float] = {}
        self._due: dict[str, float] = {}

    def update(self, intervals: Mapping[str, float]) -> None:
        """The canaries now in the repository and their intervals (seconds)."""
        for key in set(self._interval) - set(intervals):
            del self._interval[key], self._due[key]
        now = self.clock()
        for key, seconds in intervals.items():
            if self._interval.get(key) != seconds:
                new = key not in self._interval
                self._interval[key] = seconds
                self._due[key] = now if new else self._next_slot(key, now)

    def due(self) -> list[str]:
        """The canaries whose tick is due now, earliest first."""
        now = self.clock()
        return sorted((k for k, at in self._due.items() if at <= now), key=self._due.__getitem__)

    def ticked(self, keys: Iterable[str]) -> None:
        """These canaries had their tick: each is due again at its next slot after now."""
        now = self.clock()
        for key in keys:
            if key in self._due:
                self._due[key] = self._next_slot(key, now, after=True)

    def next_due(self) -> float | None:
        """When the next canary is due (clock time), None with no canaries."""
        return min(self._due.values(), default=None)

    def keys(self) -> Collection[str]:
        return self._interval.keys()

    def _next_slot(self, key: str, now: float, after: bool = False) -> float:
        """The first time >= now (> now with `after`) on the canary's grid."""
        interval = self._interval[key]
        offset = phase(key, interval)
        slots = math.ceil((now - offset) / interval)
        at = offset + slots * interval
        if after and at <= now:
            at += interval
        return at
