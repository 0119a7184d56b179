"""Batched MetricTemplates equal each canary's own queries, on a real Prometheus.

24 canaries in 3 namespaces with varied traffic: normal, all errors, no traffic (0/0 and an
all-zero histogram are NaN: no data), no series at all, and a target name that cannot be
batched; two intervals. Four templates: an error-rate ratio and a latency quantile that are
batchable (`{{ namespace }}` and `{{ target }}` as whole matcher values), one with the target
inside a regex and one with an `ignoring()` join (both per canary). Each canary's outcomes from
`BatchedMetrics` must equal those of `PrometheusMetrics.query_metrics`, and Prometheus' own
count of the queries it ran shows one query per batch and the others per canary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import pytest
import requests
from promfixtures import SyntheticSeries, running_prometheus, wait_for_query

from gitbot.adapters.prom_batch import BatchedMetrics
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.queries import QueryOutcome
from gitbot.core.spec import Analysis, Canary, Metric, MetricTemplate, ObjectRef, ServiceSpec
from gitbot.sim.prometheus import free_port

SEL = 'kubernetes_namespace="{{ namespace }}",app="{{ target }}"'
TEMPLATES = {
    "error-rate": f'sum(rate(http_requests_total{{{SEL},status=~"5.."}}[{{{{ interval }}}}])) / '
                  f"sum(rate(http_requests_total{{{SEL}}}[{{{{ interval }}}}])) * 100",
    "latency": f"histogram_quantile(0.99, sum(rate(http_latency_bucket{{{SEL}}}[1m])) by (le))",
    "pod-errors": 'sum(rate(http_requests_total{kubernetes_namespace="{{ namespace }}",'
                  'pod=~"{{ target }}-.*",status=~"5.."}[1m]))',
    "joined": f'sum by (status) (rate(http_requests_total{{{SEL},status=~"5.."}}[1m])) / '
              f"ignoring(status) group_left sum(rate(http_requests_total{{{SEL}}}[1m]))",
}
BUCKETS = [("50.0", 6), ("100.0", 9), ("250.0", 10), ("+Inf", 10)]
KINDS = ("normal", "failing", "idle", "absent")


def _kind(i: int) -> str:
    return KINDS[i % 4]


def _traffic(series: SyntheticSeries, ns: str, app: str, kind: str, i: int) -> None:
    def requests_per_second(status: str, rate: float) -> None:
        labels = {"kubernetes_namespace": ns, "app": app, "pod": f"{app}-7d9f-x{i}",
                  "status": status}
        series.counter("http_requests", labels, rate)

    if kind == "normal":
        requests_per_second("200", 4 + i)
        requests_per_second("503", 1)
        series.histogram("http_latency", {"kubernetes_namespace": ns, "app": app},
                         [(le, rate * (1 + i % 3)) for le, rate in BUCKETS])
    elif kind == "failing":
        requests_per_second("500", 3)
        series.histogram("http_latency", {"kubernetes_namespace": ns, "app": app},
                         [(le, 2) for le, _ in BUCKETS])  # every request above 250 ms
    elif kind == "idle":
        requests_per_second("200", 0)
        requests_per_second("500", 0)
        series.histogram("http_latency", {"kubernetes_namespace": ns, "app": app},
                         [(le, 0) for le, _ in BUCKETS])


def _canary(ns: str, name: str, interval: str) -> Canary:
    metrics = tuple(Metric(name=key, interval=interval,
                           template_ref=ObjectRef(name=key, namespace="monitoring"))
                    for key in TEMPLATES)
    return Canary(name=name, namespace=ns, target=ObjectRef(name=name, kind="Deployment"),
                  service=ServiceSpec(port=9898), analysis=Analysis(metrics=metrics))


def _world() -> tuple[SyntheticSeries, list[Canary]]:
    series = SyntheticSeries()
    canaries = []
    for i in range(24):
        ns, app = f"team{i % 3}", f"app{i}"
        _traffic(series, ns, app, _kind(i), i)
        canaries.append(_canary(ns, app, "30s" if i % 5 else "1m"))
    _traffic(series, "team1", "app0", "failing", 99)  # app0's name in another namespace
    _traffic(series, "team0", "not-a-canary", "normal", 98)
    _traffic(series, "team2", "dotted.app", "normal", 97)  # a regex character: its own query
    canaries.append(_canary("team2", "dotted.app", "30s"))
    return series, canaries


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[str, list[Canary]]]:
    series, canaries = _world()
    with running_prometheus(series) as (server, _exporter):
        # two scrapes of every series: rates and quantiles exist
        wait_for_query(server.url, 'rate(http_requests_total{app="app0",status="200"}[30s]) > 0',
                       timeout=60)
        wait_for_query(server.url, 'rate(http_latency_bucket{app="app1"}[30s]) > 0', timeout=60)
        yield server.url, canaries


def _templates() -> dict[str, MetricTemplate]:
    return {f"monitoring/{key}": MetricTemplate(name=key, namespace="monitoring", query=query)
            for key, query in TEMPLATES.items()}


def _same(batched: QueryOutcome, alone: QueryOutcome) -> bool:
    if batched.value is None or alone.value is None:
        return batched == alone
    return batched.error == alone.error and math.isclose(batched.value, alone.value,
                                                         rel_tol=0.02, abs_tol=0.5)


def _queries_run(url: str) -> int:
    """How many queries Prometheus has evaluated (its own counter)."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    found = re.search(r'^prometheus_engine_query_duration_seconds_count\{slice="inner_eval"\} '
                      r"(\S+)$", text, re.MULTILINE)
    assert found, "Prometheus exports no query count"
    return int(float(found.group(1)))


@pytest.mark.prometheus
def test_batched_template_outcomes_equal_each_canary_s_own_queries(
    world: tuple[str, list[Canary]],
) -> None:
    url, canaries = world
    templates = _templates()
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(canaries)
        before = _queries_run(url)
        together = {c.key: batched.query_metrics(c, templates, _no_secrets) for c in canaries}
        ran = _queries_run(url) - before
        one_by_one = {c.key: alone.query_metrics(c, templates, _no_secrets) for c in canaries}
        # error-rate: 2 intervals, latency: 1 (interval unused); for 24 canaries
        assert batched.batched_queries == 3
    # the two per-canary templates for every canary, all four for the dotted name
    assert ran == 3 + 2 * 24 + 4
    seen = set()
    for canary in canaries:
        for (metric, got), (_, want) in zip(together[canary.key], one_by_one[canary.key],
                                            strict=True):
            assert _same(got, want), (canary.key, metric.name, got, want)
            assert got.error is None, (canary.key, metric.name, got)
            if canary.name.startswith("app"):
                seen.add((_kind(int(canary.name[3:])), metric.name, got.no_data))
    # the table covered values, NaN (idle: 0/0, an all-zero histogram) and missing series
    assert {("normal", "error-rate", False), ("failing", "error-rate", False),
            ("idle", "error-rate", True), ("absent", "error-rate", True),
            ("normal", "latency", False), ("idle", "latency", True),
            ("absent", "latency", True), ("failing", "joined", False)} <= seen


@pytest.mark.prometheus
def test_a_pass_of_one_canary_keeps_its_own_template_queries(
    world: tuple[str, list[Canary]],
) -> None:
    url, canaries = world
    templates = _templates()
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(canaries[:1])
        got = batched.query_metrics(canaries[0], templates, _no_secrets)
        outside = batched.query_metrics(canaries[1], templates, _no_secrets)
        assert batched.batched_queries == 0
        want = [alone.query_metrics(c, templates, _no_secrets) for c in canaries[:2]]
    for (_, g), (_, w) in zip(got + outside, want[0] + want[1], strict=True):
        assert _same(g, w)


@pytest.mark.prometheus
def test_an_unreachable_template_server_is_every_member_s_error(
    world: tuple[str, list[Canary]],
) -> None:
    url, canaries = world
    closed = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    templates = {key: MetricTemplate(name=t.name, namespace=t.namespace, query=t.query,
                                     address=closed) for key, t in _templates().items()}
    members = canaries[:6]
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(members)
        got = [o for c in members for _, o in batched.query_metrics(c, templates, _no_secrets)]
        want = [o for c in members for _, o in alone.query_metrics(c, templates, _no_secrets)]
    assert got == want
    assert all(o.error and "cannot connect" in o.error for o in got)


@pytest.mark.prometheus
def test_a_secret_that_cannot_be_read_is_every_member_s_error(
    world: tuple[str, list[Canary]],
) -> None:
    url, canaries = world
    templates = {key: MetricTemplate(name=t.name, namespace=t.namespace, query=t.query,
                                     secret_ref="prom-auth") for key, t in _templates().items()}
    members = canaries[:6]
    with BatchedMetrics(url) as batched, PrometheusMetrics(url) as alone:
        batched.begin_pass(members)
        got = [o for c in members for _, o in batched.query_metrics(c, templates, _no_secret)]
        want = [o for c in members for _, o in alone.query_metrics(c, templates, _no_secret)]
        assert batched.batched_queries == 0
    assert got == want
    assert {o.error for o in got} == {
        f"Metric template monitoring/{key} secret: secret monitoring/prom-auth not found"
        for key in TEMPLATES}


def _no_secret(namespace: str, name: str) -> dict[str, str]:
    raise LookupError(f"secret {namespace}/{name} not found")


def _no_secrets(namespace: str, name: str) -> dict[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")
