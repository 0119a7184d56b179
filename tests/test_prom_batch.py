"""Batched builtin metrics equal each canary's own queries, on a real Prometheus.

40 canaries in 4 namespaces with varied traffic: normal, all errors, no traffic at all (0/0 is
NaN: no data), no series (no data), traffic only seen by the source reporter, a workload that is
no canary, a name that cannot be batched, and two analysis intervals. Each canary's outcomes
from `BatchedMetrics` (one query per metric and interval) must equal those from
`PrometheusMetrics.query_metrics` (one query per metric per canary).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from promfixtures import SyntheticSeries, running_prometheus, wait_for_query

from gitbot.adapters.prom_batch import BatchedMetrics
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.queries import QueryOutcome
from gitbot.core.spec import Analysis, Canary, Metric, ObjectRef, ServiceSpec

BUCKETS = [("100.0", 5), ("200.0", 9), ("500.0", 10), ("+Inf", 10)]


def _labels(ns: str, workload: str, **extra: str) -> dict[str, str]:
    return {"reporter": "destination", "destination_workload": workload,
            "destination_workload_namespace": ns, **extra}


def _kind(i: int) -> str:
    return ["normal", "failing", "idle", "absent", "source-only"][i % 5]


def _world() -> tuple[SyntheticSeries, list[Canary]]:
    series = SyntheticSeries()
    canaries = []
    for i in range(40):
        ns, name = f"team{i % 4}", f"app{i}"
        kind = _kind(i)
        if kind == "normal":
            series.counter("istio_requests", _labels(ns, name, response_code="200"), 5 + i)
            series.counter("istio_requests", _labels(ns, name, response_code="503"), 1)
            scaled = [(le, rate * (1 + i % 3)) for le, rate in BUCKETS]
            series.histogram("istio_request_duration_milliseconds", _labels(ns, name), scaled)
        elif kind == "failing":
            series.counter("istio_requests", _labels(ns, name, response_code="200"), 1)
            series.counter("istio_requests", _labels(ns, name, response_code="500"), 3)
        elif kind == "idle":
            series.counter("istio_requests", _labels(ns, name, response_code="200"), 0)
            series.histogram("istio_request_duration_milliseconds", _labels(ns, name),
                             [(le, 0) for le, _ in BUCKETS])
        elif kind == "source-only":
            series.counter("istio_requests", _labels(ns, name, response_code="200",
                                                     reporter="source"), 7)
        _readiness(series, ns, name, i)
        interval = "30s" if i % 7 else "1m"
        canaries.append(_canary(ns, name, interval))
    series.counter("istio_requests", _labels("team0", "not-a-canary", response_code="200"), 9)
    series.counter("istio_requests", _labels("team1", "app0", response_code="200"), 4)  # other ns
    series.counter("istio_requests", _labels("team2", "dotted.app", response_code="200"), 2)
    canaries.append(_canary("team2", "dotted.app", "30s"))  # a regex character: its own query
    return series, canaries


def _readiness(series: SyntheticSeries, ns: str, name: str, i: int) -> None:
    """Ready, rolling, unavailable, half the series, or none (by i)."""
    counts = [(2, 2, 2), (3, 1, 1), (2, 2, 0), (1, None, None), None][i % 5]
    if counts is None:
        return
    for deployment in (name, f"{name}-primary"):
        labels = {"namespace": ns, "deployment": deployment}
        for metric, value in zip(("kube_deployment_spec_replicas",
                                  "kube_deployment_status_replicas_updated",
                                  "kube_deployment_status_replicas_available"), counts,
                                 strict=True):
            if value is not None:
                series.gauge(metric, labels, value)


def _canary(ns: str, name: str, interval: str) -> Canary:
    metrics = (Metric(name="request-success-rate", interval=interval),
               Metric(name="request-duration", interval=interval))
    return Canary(name=name, namespace=ns, target=ObjectRef(name=name, kind="Deployment"),
                  service=ServiceSpec(port=9898), analysis=Analysis(metrics=metrics))


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[str, list[Canary]]]:
    series, canaries = _world()
    with running_prometheus(series) as (server, _exporter):
        # two samples of every series: rates exist
        wait_for_query(server.url, 'rate(istio_requests_total{destination_workload="app0",'
                       'response_code="200"}[30s]) > 0', timeout=60)
        yield server.url, canaries


def _same(batched: QueryOutcome, alone: QueryOutcome) -> bool:
    if batched.value is None or alone.value is None:
        return batched == alone
    return batched.error == alone.error and math.isclose(batched.value, alone.value,
                                                         rel_tol=0.02, abs_tol=0.5)


@pytest.mark.prometheus
def test_batched_outcomes_equal_each_canary_s_own_queries(
    world: tuple[str, list[Canary]],
) -> None:
    url, canaries = world
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(canaries)
        together = {c.key: batched.query_metrics(c, {}, _no_secrets) for c in canaries}
        one_by_one = {c.key: alone.query_metrics(c, {}, _no_secrets) for c in canaries}
        assert batched.batched_queries == 4  # 2 metrics x 2 intervals, for 40 canaries
    kinds_seen = set()
    for canary in canaries:
        pairs = list(zip(together[canary.key], one_by_one[canary.key], strict=True))
        for (metric, got), (_, want) in pairs:
            assert _same(got, want), (canary.key, metric.name, got, want)
        if canary.name.startswith("app"):
            kinds_seen.add((_kind(int(canary.name[3:])), together[canary.key][0][1].no_data))
    # the table really covered values and no data (NaN and absent series)
    assert kinds_seen >= {("normal", False), ("failing", False), ("idle", True),
                          ("absent", True), ("source-only", True)}


@pytest.mark.prometheus
def test_batched_readiness_equals_each_deployment_s_own_query(
    world: tuple[str, list[Canary]],
) -> None:
    url, canaries = world
    wait_for_query(url, 'kube_deployment_spec_replicas{deployment="app3-primary"}')
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(canaries)
        pairs = [(c, name, kind) for c in canaries
                 for name, kind in ((c.target.name, "canary"), (c.primary_name, "primary"))]
        together = [batched.deployment_readiness(c.namespace, n, 100, k) for c, n, k in pairs]
        one_by_one = [alone.deployment_readiness(c.namespace, n, 100, k) for c, n, k in pairs]
        assert batched.batched_queries == 1
    assert together == one_by_one
    assert {(r.ready, r.known) for r in together} == {(True, True), (False, True), (False, False)}


@pytest.mark.prometheus
def test_a_canary_outside_the_pass_keeps_its_own_query(world: tuple[str, list[Canary]]) -> None:
    url, canaries = world
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(canaries[1:])
        got = batched.query_metrics(canaries[0], {}, _no_secrets)
        want = alone.query_metrics(canaries[0], {}, _no_secrets)
        assert batched.batched_queries == 0
    assert all(_same(g, w) for (_, g), (_, w) in zip(got, want, strict=True))


def _no_secrets(namespace: str, name: str) -> dict[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")
