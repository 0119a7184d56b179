"""Flagger's duration strings (`30s`, `1m`, `1h`, `1m30s`) as whole seconds.

Called by `gitbot.core.parse` when it reads `analysis.interval`, metric intervals and webhook
timeouts, and by anyone who needs the analysis tick period (`analysis_interval_seconds`, the
equivalent of Flagger's `GetAnalysisInterval`).
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)([smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_ANALYSIS_INTERVAL = 60
MIN_ANALYSIS_INTERVAL = 10


def parse_duration(text: str) -> int | None:
    """Seconds of a duration such as `30s`, `1m`, `2h` or `1m30s`; None when unparsable."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text:
        return None
    total = 0
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position:
            return None
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


def analysis_interval_seconds(raw: str | None) -> int:
    """Flagger's `GetAnalysisInterval`: 60s when empty or unparsable, and at least 10s."""
    seconds = parse_duration(raw) if raw else None
    if seconds is None:
        return DEFAULT_ANALYSIS_INTERVAL
    return max(seconds, MIN_ANALYSIS_INTERVAL)
