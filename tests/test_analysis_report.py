"""The analysis section of commit bodies."""

from __future__ import annotations

from gitbot.core.analysis_report import analysis_lines
from gitbot.core.spec import Analysis, Canary, Metric, ObjectRef, ServiceSpec, ThresholdRange
from gitbot.core.state import MetricResult

CANARY = Canary(
    name="podinfo",
    namespace="test",
    target=ObjectRef(name="podinfo", kind="Deployment"),
    service=ServiceSpec(port=9898),
    analysis=Analysis(
        step_weight=10,
        metrics=(
            Metric("request-success-rate", threshold_range=ThresholdRange(min=99)),
            Metric("request-duration", threshold_range=ThresholdRange(max=500)),
        ),
    ),
)


def test_every_metric_with_value_range_and_verdict() -> None:
    text = analysis_lines(
        CANARY,
        (
            MetricResult("request-success-rate", 99.871, True, ""),
            MetricResult("request-duration", None, False, "no data"),
        ),
    )
    assert text == (
        "Analysis (this tick):\n"
        "- request-success-rate: 99.87% (min 99%): passed\n"
        "- request-duration: no data (max 500ms): failed"
    )


def test_nothing_measured_gives_no_section() -> None:
    assert analysis_lines(CANARY, ()) == ""
