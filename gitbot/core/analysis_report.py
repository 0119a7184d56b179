"""The analysis behind a step, as text for the commit body: every metric, its value, its range.

Pure; called by the reconciler when it commits a change, so `git log` shows why gitbot moved
the traffic (the values the tick measured), not only that it did.
"""

from __future__ import annotations

from gitbot.core.messages import go_float
from gitbot.core.spec import Canary, Metric
from gitbot.core.state import MetricResult


def analysis_lines(canary: Canary, results: tuple[MetricResult, ...]) -> str:
    """`Analysis:` and one line per metric; "" when the tick measured nothing."""
    if not results:
        return ""
    metrics = {m.name: m for m in canary.analysis.metrics}
    lines = ["Analysis (this tick):"]
    for result in results:
        unit = _UNITS.get(result.name, "")
        value = "no data" if result.value is None else f"{result.value:.2f}{unit}"
        verdict = "passed" if result.passed else "failed"
        bounds = _bounds(metrics.get(result.name), unit)
        lines.append(f"- {result.name}: {value}{bounds}: {verdict}")
    return "\n".join(lines)


_UNITS = {"request-success-rate": "%", "request-duration": "ms"}


def _bounds(metric: Metric | None, unit: str) -> str:
    if metric is None:
        return ""
    parts = []
    if metric.threshold_range.min is not None:
        parts.append(f"min {go_float(metric.threshold_range.min)}{unit}")
    if metric.threshold_range.max is not None:
        parts.append(f"max {go_float(metric.threshold_range.max)}{unit}")
    return f" ({', '.join(parts)})" if parts else ""
