"""Give up on a hanging Prometheus for the rest of a pass.

Owned by `PrometheusMetrics` (one latch per server client), switched on for a pass by
`BatchedMetrics.begin_pass` (`within_pass`). See `HangLatch`.
"""

from __future__ import annotations

import logging

log = logging.getLogger("gitbot.observe")
HANG_LIMIT = 3  # timeouts in a row after which a server is not asked again in this pass


class HangLatch:
    """Stops a pass from waiting on a server that hangs. Queries run one after another, so a
    Prometheus that accepts connections but never answers would cost every canary's every
    query its full timeout (1,000 canaries: hours per pass). After `HANG_LIMIT` timeouts in a
    row (a batched query that timed out, then its members' own queries) the remaining queries
    of the pass fail at once with the last timeout, said once in the log; a heavy query that
    times out alone while others answer changes nothing. The next pass asks again."""

    def __init__(self) -> None:
        self.active = False
        self.in_a_row = 0
        self.given_up: str | None = None

    def reset(self, active: bool) -> None:
        self.active, self.in_a_row, self.given_up = active, 0, None

    def answered(self) -> None:
        self.in_a_row = 0

    def failed(self, timeout: bool, text: str, where: str) -> None:
        self.in_a_row = self.in_a_row + 1 if timeout else 0
        if self.active and self.in_a_row >= HANG_LIMIT:
            self.given_up = f"{text} ({HANG_LIMIT} timeouts in a row: not asked again this pass)"
            log.warning("Prometheus at %s timed out %d times in a row: its remaining queries "
                        "of this pass fail without asking", where, HANG_LIMIT)
