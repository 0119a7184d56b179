"""On a real Prometheus whose `--query.max-samples` the batched queries exceed but each canary's
own query does not: every canary gets its own query's outcome.

12 canaries with a few series each, and one ("wide") with 40 pods' series: its own success-rate
and requests-per-second queries exceed the limit too, its latency query does not. Prometheus
2.42 counts a query's peak samples, a few per series selected (measured with `stats=all`: a
normal canary's own query peaks at 17, a batch of two at 25, the batches of all 13 at 157 to
234, wide's own at 161), so `MAX_SAMPLES` sits between them. Prometheus' own count of the
HTTP queries it answered shows one batched query per batch, then one own query per member and
metric; a pass of two canaries stays under the limit and asks no own query.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator

import pytest
import requests
from promfixtures import SyntheticSeries, running_prometheus, wait_for_query

from gitbot.adapters.prom_batch import BatchedMetrics
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.analysis import evaluate_metric
from gitbot.core.queries import QueryOutcome
from gitbot.core.spec import (
    Analysis,
    Canary,
    Metric,
    MetricTemplate,
    ObjectRef,
    ServiceSpec,
    ThresholdRange,
)

MAX_SAMPLES = 80  # peak samples (stats=all): own queries <= 25, batches >= 157, wide >= 161
TOO_MANY = "query processing would load too many samples into memory"
BUCKETS = [("100.0", 5), ("200.0", 9), ("500.0", 10), ("+Inf", 10)]
METRICS = (
    Metric(name="request-success-rate", interval="30s", threshold_range=ThresholdRange(min=50)),
    Metric(name="request-duration", interval="30s", threshold_range=ThresholdRange(max=1000)),
    Metric(name="rps", interval="30s", threshold_range=ThresholdRange(max=1000),
           template_ref=ObjectRef(name="rps", namespace="monitoring")),
)
TEMPLATES = {"monitoring/rps": MetricTemplate(
    name="rps", namespace="monitoring",
    query='sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
          'destination_workload="{{ target }}"}[{{ interval }}]))')}


def _labels(ns: str, app: str, **extra: str) -> dict[str, str]:
    return {"reporter": "destination", "destination_workload_namespace": ns,
            "destination_workload": app, **extra}


def _world() -> tuple[SyntheticSeries, list[Canary]]:
    series = SyntheticSeries()
    workloads = [(f"team{i % 3}", f"app{i}") for i in range(12)] + [("team0", "wide")]
    for i, (ns, app) in enumerate(workloads):
        pods = 40 if app == "wide" else 1
        for pod in range(pods):
            series.counter("istio_requests", _labels(ns, app, response_code="200",
                                                     pod=f"{app}-{pod}"), 5 + i)
            series.counter("istio_requests", _labels(ns, app, response_code="503",
                                                     pod=f"{app}-{pod}"), 1)
        series.histogram("istio_request_duration_milliseconds", _labels(ns, app), BUCKETS)
    canaries = [Canary(name=app, namespace=ns, target=ObjectRef(name=app, kind="Deployment"),
                       service=ServiceSpec(port=9898), analysis=Analysis(metrics=METRICS))
                for ns, app in workloads]
    return series, canaries


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[str, list[Canary]]]:
    series, canaries = _world()
    with running_prometheus(series, extra_args=[f"--query.max-samples={MAX_SAMPLES}"]) as (
            server, _exporter):
        # rates exist: 3 scrapes (of every series: one exporter) in the 30s interval
        wait_for_query(server.url, 'count_over_time(istio_requests_total{pod="wide-39",'
                       'response_code="503"}[30s]) >= 3', timeout=90)
        yield server.url, canaries


def _answered(url: str) -> int:
    """How many /api/v1/query requests Prometheus has answered, failed ones included."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    found = re.findall(r'^prometheus_http_requests_total\{code="\d+",handler="/api/v1/query"\} '
                       r"(\S+)$", text, re.MULTILINE)
    return sum(int(float(n)) for n in found)


def _same(batched: QueryOutcome, alone: QueryOutcome) -> bool:
    if batched.value is None or alone.value is None:
        return batched == alone
    return batched.error == alone.error and math.isclose(batched.value, alone.value,
                                                         rel_tol=0.05, abs_tol=0.5)


@pytest.mark.prometheus
def test_batches_over_the_sample_limit_give_each_canary_its_own_outcome(
    world: tuple[str, list[Canary]], caplog: pytest.LogCaptureFixture,
) -> None:
    url, canaries = world
    caplog.set_level(logging.WARNING, logger="gitbot")
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(canaries)
        before = _answered(url)
        got = {c.key: batched.query_metrics(c, TEMPLATES, _no_secrets) for c in canaries}
        asked = _answered(url) - before
        want = {c.key: alone.query_metrics(c, TEMPLATES, _no_secrets) for c in canaries}
    assert asked == 3 + len(canaries) * len(METRICS)  # 3 failed batches, then own queries
    failed = [r.getMessage() for r in caplog.records if "batched query" in r.getMessage()]
    assert len(failed) == 3 and all(TOO_MANY in line for line in failed), failed
    for canary in canaries:
        for (metric, g), (_, w) in zip(got[canary.key], want[canary.key], strict=True):
            assert _same(g, w), (canary.key, metric.name, g, w)
            check = evaluate_metric(canary, metric, g.value, g.error)
            own_too_large = canary.name == "wide" and metric.name != "request-duration"
            assert check.passed is not own_too_large, (canary.key, check)
            assert (TOO_MANY in check.message) is own_too_large, (canary.key, check)


@pytest.mark.prometheus
def test_a_batch_under_the_sample_limit_asks_no_own_query(
    world: tuple[str, list[Canary]], caplog: pytest.LogCaptureFixture,
) -> None:
    url, canaries = world
    pair = canaries[:2]  # 2 x 4 series x 31 samples at most: under the limit
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(pair)
        before = _answered(url)
        got = {c.key: batched.query_metrics(c, TEMPLATES, _no_secrets) for c in pair}
        asked = _answered(url) - before
        want = {c.key: alone.query_metrics(c, TEMPLATES, _no_secrets) for c in pair}
    assert asked == 3
    assert not [r for r in caplog.records if "batched query" in r.getMessage()]
    for canary in pair:
        for (metric, g), (_, w) in zip(got[canary.key], want[canary.key], strict=True):
            assert g.error is None and _same(g, w), (canary.key, metric.name, g, w)


def _no_secrets(namespace: str, name: str) -> dict[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")
