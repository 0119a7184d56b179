"""Metric checks: Flagger's Halt / no-data / query-failed messages and inclusive ranges."""

from __future__ import annotations

import math

import pytest

from gitbot.core.analysis import evaluate_metric, failed_results, is_builtin
from gitbot.core.spec import Analysis, Canary, Metric, ObjectRef, ServiceSpec, ThresholdRange
from gitbot.core.state import MetricResult

CANARY = Canary(
    name="podinfo",
    namespace="test",
    target=ObjectRef("podinfo", "Deployment"),
    service=ServiceSpec(port=9898),
    analysis=Analysis(threshold=5, max_weight=50, step_weight=10),
)
SR = Metric("request-success-rate", threshold_range=ThresholdRange(min=99))
DUR = Metric("request-duration", threshold_range=ThresholdRange(max=500))
CUSTOM = Metric("my metric", template_ref=ObjectRef("my-metric"),
                threshold_range=ThresholdRange(max=10))
INLINE = Metric("errors", query="sum(x)", threshold_range=ThresholdRange(max=1))

CASES = [
    pytest.param(SR, 69.17, None, "Halt podinfo.test advancement success rate 69.17% < 99%",
                 id="success-rate-below-min"),
    pytest.param(SR, 99.0, None, "", id="success-rate-min-inclusive"),
    pytest.param(Metric("request-success-rate", threshold_range=ThresholdRange(min=99.5)),
                 97.504, None, "Halt podinfo.test advancement success rate 97.50% < 99.5%",
                 id="success-rate-fractional-bound"),
    pytest.param(Metric("request-success-rate", threshold_range=ThresholdRange(max=50)),
                 60.0, None, "Halt podinfo.test advancement success rate 60.00% > 50%",
                 id="success-rate-above-max"),
    pytest.param(Metric("request-success-rate", threshold=99), 98.0, None,
                 "Halt podinfo.test advancement success rate 98.00% < 99%",
                 id="success-rate-deprecated-threshold"),
    pytest.param(DUR, 512.9, None, "Halt podinfo.test advancement request duration 512ms > 500ms",
                 id="duration-truncated-above-max"),
    pytest.param(DUR, 500.9, None, "", id="duration-max-inclusive-after-truncation"),
    pytest.param(DUR, 1515.0, None,
                 "Halt podinfo.test advancement request duration 1.515s > 500ms",
                 id="duration-go-format-seconds"),
    pytest.param(Metric("request-duration", threshold_range=ThresholdRange(min=10)), 3.0, None,
                 "Halt podinfo.test advancement request duration 3ms < 10ms",
                 id="duration-below-min"),
    pytest.param(Metric("request-duration", threshold=500), 600.0, None,
                 "Halt podinfo.test advancement request duration 600ms > 500ms",
                 id="duration-deprecated-threshold"),
    pytest.param(CUSTOM, 91.57, None, "Halt podinfo.test advancement my metric 91.57 > 10",
                 id="custom-above-max"),
    pytest.param(CUSTOM, 10.0, None, "", id="custom-max-inclusive"),
    pytest.param(Metric("m", template_ref=ObjectRef("t"), threshold_range=ThresholdRange(1, 2)),
                 0.5, None, "Halt podinfo.test advancement m 0.50 < 1", id="custom-below-min"),
    pytest.param(SR, None, None,
                 "Halt advancement no values found for istio metric request-success-rate "
                 "probably podinfo.test is not receiving traffic: no values found",
                 id="builtin-no-data"),
    pytest.param(SR, math.nan, None,
                 "Halt advancement no values found for istio metric request-success-rate "
                 "probably podinfo.test is not receiving traffic: no values found",
                 id="nan-is-no-data"),
    pytest.param(CUSTOM, None, None,
                 "Halt advancement no values found for custom metric: my metric: no values found",
                 id="custom-no-data"),
    pytest.param(INLINE, math.nan, None, "Halt advancement no values found for metric: errors",
                 id="inline-no-data"),
    pytest.param(CUSTOM, None, "HTTP 400: bad_data: parse error",
                 "Metric query failed for my metric: HTTP 400: bad_data: parse error",
                 id="query-error"),
]


@pytest.mark.parametrize(("metric", "value", "error", "message"), CASES)
def test_evaluate_metric(metric: Metric, value: float | None, error: str | None,
                         message: str) -> None:
    result = evaluate_metric(CANARY, metric, value, error)
    assert result.name == metric.name
    assert result.passed is (message == "")
    if message:
        assert result.message == message
    else:
        assert result.value == value and "passed" in result.message


def test_no_data_and_errors_carry_no_value() -> None:
    assert evaluate_metric(CANARY, SR, math.nan, None).value is None
    assert evaluate_metric(CANARY, SR, 99.9, "timeout").value is None


def test_metric_without_bounds_passes_any_value() -> None:
    assert evaluate_metric(CANARY, Metric("m", template_ref=ObjectRef("t")), 1e9, None).passed


def test_builtin_names_only_without_template_or_query() -> None:
    assert is_builtin(SR) and is_builtin(DUR)
    assert not is_builtin(Metric("request-success-rate", template_ref=ObjectRef("t")))
    assert not is_builtin(CUSTOM)


def test_failed_results_keeps_order() -> None:
    results = (MetricResult("a", 1, False, "x"), MetricResult("b", 2, True, "y"),
               MetricResult("c", None, False, "z"))
    assert [r.name for r in failed_results(results)] == ["a", "c"]
