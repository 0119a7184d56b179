"""Tests for gitbot.adapters.prometheus against a real Prometheus (one per module) and fakes.

The exporter's counters grow linearly, so the success rate is exactly 90% and the P99 is
exactly 470 ms (9.9th of 10 requests/s falls in the (200, 500] bucket at 90%).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import pytest
from httpfixtures import RecordingServer, Reply
from promfixtures import SyntheticSeries, running_prometheus

from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.queries import QueryOutcome, metric_query
from gitbot.core.spec import (
    Analysis,
    Canary,
    Metric,
    MetricTemplate,
    ObjectRef,
    ServiceSpec,
    freeze,
)
from gitbot.core.state import Readiness
from gitbot.errors import RetryableError
from gitbot.sim.prometheus import PrometheusServer, free_port

SHA = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


def istio(workload: str, code: str, reporter: str = "destination") -> dict[str, str]:
    return {
        "reporter": reporter,
        "destination_workload": workload,
        "destination_workload_namespace": "test",
        "response_code": code,
    }


def kube(series: SyntheticSeries, name: str, spec: int, updated: int, available: int) -> None:
    labels = {"namespace": "test", "deployment": name}
    series.gauge("kube_deployment_spec_replicas", labels, spec)
    series.gauge("kube_deployment_status_replicas_updated", labels, updated)
    series.gauge("kube_deployment_status_replicas_available", labels, available)


def synthetic() -> SyntheticSeries:
    series = SyntheticSeries()
    series.counter("istio_requests", istio("podinfo", "200"), 9)
    series.counter("istio_requests", istio("podinfo", "503"), 1)
    series.counter("istio_requests", istio("podinfo", "500", reporter="source"), 50)
    series.counter("istio_requests", istio("idle", "200"), 0)
    buckets = [("100.0", 5), ("200.0", 9), ("500.0", 10), ("+Inf", 10)]
    labels = {k: v for k, v in istio("podinfo", "200").items() if k != "response_code"}
    series.histogram("istio_request_duration_milliseconds", labels, buckets)
    kube(series, "podinfo", 2, 2, 1)
    kube(series, "podinfo-primary", 2, 2, 2)
    kube(series, "rolling", 3, 1, 1)
    series.gauge("kube_deployment_spec_replicas", {"namespace": "test", "deployment": "half"}, 1)
    info = {"customresource_kind": "Kustomization", "exported_namespace": "flux-system"}
    series.gauge("gotk_resource_info", {**info, "name": "apps", "revision": f"main@sha1:{SHA}"}, 1)
    series.gauge(
        "gotk_resource_info",
        {**info, "customresource_kind": "GitRepository", "name": "repo", "revision": "x"},
        1,
    )
    return series


def make_canary(*metrics: Metric, target: str = "podinfo") -> Canary:
    return Canary(
        name=target,
        namespace="test",
        target=ObjectRef(name=target, kind="Deployment"),
        service=ServiceSpec(port=9898),
        analysis=Analysis(metrics=metrics),
    )


def no_secrets(namespace: str, name: str) -> Mapping[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with running_prometheus(synthetic()) as (server, _exporter):
        with PrometheusMetrics(server.url) as metrics:
            promql = metric_query(make_canary(), Metric(name="request-duration"), {}).promql
            _poll_value(metrics, promql, timeout=40)
        yield server


@pytest.fixture
def metrics(prom: PrometheusServer) -> Iterator[PrometheusMetrics]:
    with PrometheusMetrics(prom.url, timeout=5) as client:
        yield client


def _poll_value(metrics: PrometheusMetrics, promql: str, timeout: float) -> float:
    """Wait until a rate-based query has two samples and so a value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = metrics.query_value(promql)
        if outcome.value is not None:
            return outcome.value
        time.sleep(0.2)
    raise TimeoutError(f"no value for {promql}")


def builtin(name: str, target: str = "podinfo") -> str:
    return metric_query(make_canary(target=target), Metric(name=name, interval="30s"), {}).promql


@pytest.mark.prometheus
def test_success_rate_ignores_source_reporter(metrics: PrometheusMetrics) -> None:
    outcome = metrics.query_value(builtin("request-success-rate"))
    assert outcome.error is None and outcome.value == pytest.approx(90.0, abs=0.5)


@pytest.mark.prometheus
def test_p99_duration(metrics: PrometheusMetrics) -> None:
    outcome = metrics.query_value(builtin("request-duration"))
    assert outcome.error is None and outcome.value == pytest.approx(470.0, abs=5)


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "target",
    [
        pytest.param("idle", id="zero-traffic-is-nan"),
        pytest.param("absent", id="no-series-is-empty"),
    ],
)
def test_no_traffic_is_no_data(metrics: PrometheusMetrics, target: str) -> None:
    assert metrics.query_value(builtin("request-success-rate", target)) == QueryOutcome(None)


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("promql", "error"),
    [
        pytest.param("sum(rate(", "HTTP 400: bad_data", id="syntax-error"),
        pytest.param("kube_deployment_spec_replicas[1m]", "multiple values", id="matrix"),
        pytest.param('"text"', "not a number", id="string-result"),
    ],
)
def test_bad_queries_are_errors(metrics: PrometheusMetrics, promql: str, error: str) -> None:
    outcome = metrics.query_value(promql)
    assert outcome.value is None and outcome.error is not None and error in outcome.error


@pytest.mark.prometheus
def test_last_series_wins_and_scalars_work(metrics: PrometheusMetrics) -> None:
    assert metrics.query_value('sort(kube_deployment_spec_replicas{namespace="test"})').value == 3
    assert metrics.query_value("scalar(vector(7))").value == 7
    assert metrics.is_online()


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        pytest.param(
            "podinfo",
            "canary",
            Readiness(
                ready=False,
                message="canary deployment podinfo.test not ready: waiting for rollout to "
                "finish: 1 of 2 (readyThreshold 100%) updated replicas are available",
            ),
            id="canary-one-of-two",
        ),
        pytest.param("podinfo-primary", "primary", Readiness(ready=True), id="primary-ready"),
        pytest.param(
            "rolling",
            "canary",
            Readiness(
                ready=False,
                message="canary deployment rolling.test not ready: waiting for rollout to "
                "finish: 1 out of 3 new replicas have been updated",
            ),
            id="not-updated",
        ),
    ],
)
def test_readiness(metrics: PrometheusMetrics, name: str, kind: str, expected: Readiness) -> None:
    assert metrics.deployment_readiness("test", name, 100, kind) == expected


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "name", [pytest.param("half", id="partial"), pytest.param("gone", id="absent")]
)
def test_readiness_unknown_without_series(metrics: PrometheusMetrics, name: str) -> None:
    result = metrics.deployment_readiness("test", name, 100, "canary")
    assert (result.ready, result.known) == (False, False)
    assert "kube-state-metrics" in result.message


@pytest.mark.prometheus
def test_applied_revisions(metrics: PrometheusMetrics, prom: PrometheusServer) -> None:
    assert metrics.applied_revisions() == {"apps": SHA}
    assert metrics.applied_kustomizations() == {("flux-system", "apps"): SHA}
    with PrometheusMetrics(prom.url, cluster_labels={"cluster": "prod-us"}) as other:
        assert other.applied_kustomizations() is None  # another cluster's series only
        canary = make_canary(Metric(name="request-success-rate", interval="30s"),
                             Metric(name="inline", query="vector(42)"))
        by_name = {m.name: o for m, o in other.query_metrics(canary, {}, no_secrets)}
        assert by_name["request-success-rate"].value is None  # builtins: this cluster's only
        assert by_name["inline"] == QueryOutcome(42.0)  # the team's own queries: as written


@pytest.mark.prometheus
def test_query_metrics_runs_every_metric(
    metrics: PrometheusMetrics, prom: PrometheusServer
) -> None:
    template = MetricTemplate(
        name="replicas",
        namespace="test",
        address=prom.url,
        headers=freeze({"X-Scope-OrgID": "tenant-a"}),
        query='kube_deployment_spec_replicas{deployment="{{ target }}-{{ variables.suffix }}"}',
    )
    canary = make_canary(
        Metric(name="request-success-rate", interval="30s"),
        Metric(
            name="replicas",
            template_ref=ObjectRef(name="replicas"),
            template_variables=freeze({"suffix": "primary"}),
        ),
        Metric(name="missing", template_ref=ObjectRef(name="missing")),
        Metric(name="inline", query="vector(42)"),
    )
    outcomes = metrics.query_metrics(canary, {template.key: template}, no_secrets)
    by_name = {m.name: o for m, o in outcomes}
    assert list(by_name) == ["request-success-rate", "replicas", "missing", "inline"]
    assert by_name["request-success-rate"].value == pytest.approx(90.0, abs=0.5)
    assert by_name["replicas"] == QueryOutcome(2.0)
    assert by_name["missing"] == QueryOutcome(None, "Metric template test/missing not found")
    assert by_name["inline"] == QueryOutcome(42.0)


def test_prometheus_down_fails_fast_without_retries() -> None:
    url = f"http://admin:s3cret@127.0.0.1:{free_port()}"
    with PrometheusMetrics(url, timeout=5) as metrics:
        started = time.monotonic()
        outcome = metrics.query_value("up")
        elapsed = time.monotonic() - started
        assert outcome.value is None and outcome.error is not None
        assert "connection refused" in outcome.error and "s3cret" not in outcome.error
        assert elapsed < 2
        assert not metrics.is_online()
        assert metrics.deployment_readiness("test", "podinfo", 100).known is False
        with pytest.raises(RetryableError, match="cannot connect"):
            metrics.applied_revisions()


def _vector(*samples: tuple[dict[str, str], str]) -> dict[str, object]:
    result = [{"metric": m, "value": [1.0, v]} for m, v in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_template_auth_and_headers_are_sent() -> None:
    with RecordingServer(Reply(200, _vector(({}, "1")))) as fake:
        templates = {
            "test/bearer": MetricTemplate(
                name="bearer",
                namespace="test",
                address=f"{fake.url}/t",
                secret_ref="prom-token",
                headers=freeze({"X-Scope-OrgID": "tenant-a"}),
                query="up",
            ),
            "test/basic": MetricTemplate(
                name="basic",
                namespace="test",
                address=f"{fake.url}/b",
                secret_ref="prom-basic",
                query="up",
            ),
        }
        secrets = {
            "prom-token": {"token": "tkn-123"},
            "prom-basic": {"username": "u", "password": "p"},
        }
        canary = make_canary(
            Metric(name="bearer", template_ref=ObjectRef(name="bearer")),
            Metric(name="basic", template_ref=ObjectRef(name="basic")),
        )
        with PrometheusMetrics(fake.url) as metrics:
            outcomes = metrics.query_metrics(canary, templates, lambda ns, n: secrets[n])
        assert [o for _, o in outcomes] == [QueryOutcome(1.0), QueryOutcome(1.0)]
        bearer, basic = fake.requests_to("/t/api/v1/query"), fake.requests_to("/b/api/v1/query")
        assert bearer[0].headers["authorization"] == "Bearer tkn-123"
        assert bearer[0].headers["x-scope-orgid"] == "tenant-a"
        assert basic[0].headers["authorization"].startswith("Basic ")


def test_secret_errors_become_outcomes() -> None:
    template = MetricTemplate(
        name="t", namespace="test", address="http://127.0.0.1:9", secret_ref="gone", query="up"
    )
    canary = make_canary(Metric(name="t", template_ref=ObjectRef(name="t")))

    def resolve(namespace: str, name: str) -> Mapping[str, str]:
        raise KeyError(f"secret {namespace}/{name} not found")

    with PrometheusMetrics("http://127.0.0.1:9") as metrics:
        ((_, outcome),) = metrics.query_metrics(canary, {template.key: template}, resolve)
    assert outcome.value is None and "secret test/gone not found" in (outcome.error or "")


def test_missing_flux_series_is_none_and_5xx_is_an_error() -> None:
    with RecordingServer(Reply(200, _vector())) as fake:
        fake.reply(
            "/bad/api/v1/query",
            Reply(503, {"status": "error", "errorType": "timeout", "error": "query timed out"}),
        )
        with PrometheusMetrics(fake.url) as metrics:
            assert metrics.applied_revisions() is None
        with PrometheusMetrics(f"{fake.url}/bad") as metrics:
            outcome = metrics.query_value("up")
        assert outcome.error == "Prometheus query failed: HTTP 503: timeout: query timed out"
        assert len(fake.requests_to("/bad/api/v1/query")) == 1  # no retry of a 503
