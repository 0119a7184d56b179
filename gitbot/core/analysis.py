"""Metric checks: a queried value against the metric's threshold, with Flagger's messages.

The reconciler queries Prometheus, then calls `evaluate_metric` for each `analysis.metrics[]`
entry and puts the results in `Observation.metrics`; `gitbot.core.decide` counts a failed check
when any result did not pass. Missing data (None or NaN without an error) fails closed: gitbot
never treats "no values found" as a pass.

Semantics follow Flagger's scheduler_metrics.go: `thresholdRange` bounds are inclusive (a value
fails only when below `min` or above `max`); without a range the deprecated `threshold` applies
(success rate: minimum; request duration and custom metrics: maximum). Request durations are
milliseconds, truncated to whole milliseconds before the comparison.
"""

from __future__ import annotations

import math

from gitbot.core import messages
from gitbot.core.spec import Canary, Metric
from gitbot.core.state import MetricResult

SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"
BUILTIN_METRICS = frozenset({SUCCESS_RATE, REQUEST_DURATION})


def is_builtin(metric: Metric) -> bool:
    """True for Flagger's built-in Istio checks (no template and no inline query)."""
    return metric.name in BUILTIN_METRICS and metric.template_ref is None and not metric.query


def evaluate_metric(
    canary: Canary, metric: Metric, value: float | None, error: str | None
) -> MetricResult:
    """Pass/fail of one metric on this tick, with the event text Flagger would emit."""
    if error:
        return _failed(metric, None, messages.metric_query_failed(metric.name, error))
    if value is None or math.isnan(value):
        return _failed(metric, None, _no_values(canary, metric))
    breach = _breach(canary, metric, value)
    if breach:
        return _failed(metric, value, breach)
    return MetricResult(metric.name, value, True, f"{metric.name} {value:.2f} passed")


def _failed(metric: Metric, value: float | None, message: str) -> MetricResult:
    return MetricResult(name=metric.name, value=value, passed=False, message=message)


def _no_values(canary: Canary, metric: Metric) -> str:
    if is_builtin(metric):
        return messages.no_values_builtin(canary, metric.name)
    if metric.template_ref is not None:
        return messages.no_values_custom(metric.name)
    return messages.no_values_inline(metric.name)


def _breach(canary: Canary, metric: Metric, value: float) -> str:
    """The Halt message when `value` is out of range, else ""."""
    if is_builtin(metric) and metric.name == SUCCESS_RATE:
        return _success_rate_breach(canary, metric, value)
    if is_builtin(metric):
        return _duration_breach(canary, metric, value)
    return _custom_breach(canary, metric, value)


def _bounds(metric: Metric, legacy_is_min: bool) -> tuple[float | None, float | None]:
    """(min, max) from thresholdRange, or from the deprecated threshold when no range is set."""
    rng = metric.threshold_range
    if rng.min is not None or rng.max is not None:
        return rng.min, rng.max
    if metric.threshold is None:
        return None, None
    return (metric.threshold, None) if legacy_is_min else (None, metric.threshold)


def _success_rate_breach(canary: Canary, metric: Metric, value: float) -> str:
    low, high = _bounds(metric, legacy_is_min=True)
    if low is not None and value < low:
        return messages.halt_success_rate(canary, value, "<", low)
    if high is not None and value > high:
        return messages.halt_success_rate(canary, value, ">", high)
    return ""


def _duration_breach(canary: Canary, metric: Metric, value: float) -> str:
    millis = int(value)  # Flagger truncates the P99 to whole milliseconds
    low, high = _bounds(metric, legacy_is_min=False)
    if low is not None and millis < int(low):
        return messages.halt_request_duration(canary, millis, "<", int(low))
    if high is not None and millis > int(high):
        return messages.halt_request_duration(canary, millis, ">", int(high))
    return ""


def _custom_breach(canary: Canary, metric: Metric, value: float) -> str:
    low, high = _bounds(metric, legacy_is_min=False)
    if low is not None and value < low:
        return messages.halt_custom_metric(canary, metric.name, value, "<", low)
    if high is not None and value > high:
        return messages.halt_custom_metric(canary, metric.name, value, ">", high)
    return ""


def failed_results(results: tuple[MetricResult, ...]) -> tuple[MetricResult, ...]:
    """The results that did not pass, in spec order."""
    return tuple(r for r in results if not r.passed)
