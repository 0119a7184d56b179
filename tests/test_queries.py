"""Tests for gitbot.core.queries: builtin PromQL, template rendering, readiness, revisions."""

from __future__ import annotations

import pytest

from gitbot.core.queries import (
    APPLIED_REVISION_QUERY,
    AVAILABLE_REPLICAS,
    SPEC_REPLICAS,
    UPDATED_REPLICAS,
    MetricQuery,
    QueryOutcome,
    QueryRenderError,
    applied_revision_query,
    metric_query,
    parse_revision,
    readiness,
    readiness_from_series,
    readiness_query,
    render_query,
    with_cluster_labels,
)
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

SUCCESS_RATE = (
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo",response_code!~"5.*"}[1m])) / '
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo"}[1m])) * 100'
)
DURATION = (
    "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
    'reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo"}[30s])) by (le))'
)


def make_canary(*metrics: Metric, metrics_server: str = "") -> Canary:
    return Canary(
        name="podinfo-canary",
        namespace="test",
        target=ObjectRef(name="podinfo", kind="Deployment"),
        service=ServiceSpec(port=9898, name="podinfo-svc"),
        analysis=Analysis(metrics=metrics),
        metrics_server=metrics_server,
    )


def render(template: str, **variables: str) -> str:
    return render_query(
        template,
        name="podinfo-canary",
        namespace="test",
        target="podinfo",
        service="podinfo-svc",
        interval="2m",
        variables=variables,
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{{ name }}", "podinfo-canary", id="name"),
        pytest.param("{{namespace}}", "test", id="no-spaces"),
        pytest.param("{{   target   }}", "podinfo", id="many-spaces"),
        pytest.param("{{ service }}", "podinfo-svc", id="service"),
        pytest.param("[{{ interval }}]", "[2m]", id="interval"),
        pytest.param("{{ variables.code }}", "5.*", id="variable"),
        pytest.param("{{ target }}-primary", "podinfo-primary", id="primary-suffix"),
        pytest.param("a  {{- name -}}  b", "apodinfo-canaryb", id="trim-markers"),
        pytest.param("{{ ingress }}/{{ route }}", "podinfo/podinfo", id="ingress-route-default"),
        pytest.param("no braces", "no braces", id="plain-text"),
    ],
)
def test_render_query(template: str, expected: str) -> None:
    assert render(template, code="5.*") == expected


@pytest.mark.parametrize(
    ("template", "named"),
    [
        pytest.param("{{ variables.missing }}", "missing", id="missing-variable"),
        pytest.param("{{ canary }}", "canary", id="unknown-function"),
        pytest.param("{{ name | upper }}", "name | upper", id="pipeline-unsupported"),
        pytest.param("{{ variables }}", "variables", id="variables-without-key"),
    ],
)
def test_render_query_errors_name_the_culprit(template: str, named: str) -> None:
    with pytest.raises(QueryRenderError, match=named.replace("|", r"\|")):
        render(template)


def test_builtin_queries_match_flagger() -> None:
    canary = make_canary()
    ok = metric_query(canary, Metric(name="request-success-rate"), {})
    p99 = metric_query(canary, Metric(name="request-duration", interval="30s"), {})
    assert ok == MetricQuery(promql=SUCCESS_RATE, builtin=True)
    assert p99 == MetricQuery(promql=DURATION, builtin=True)


def test_builtin_query_runs_on_the_canary_metrics_server() -> None:
    canary = make_canary(metrics_server="http://prom.example:9090")
    query = metric_query(canary, Metric(name="request-success-rate"), {})
    assert query.address == "http://prom.example:9090"


def test_template_query_is_rendered_and_collapsed() -> None:
    template = MetricTemplate(
        name="error-rate",
        namespace="istio-system",
        address="http://prometheus.istio-system:9090",
        query="""
          100 - sum(
            rate(requests{ns="{{ namespace }}", app="{{ target }}", code!~"{{ variables.code }}"}
            [{{ interval }}]))
        """,
    )
    metric = Metric(
        name="error-rate",
        interval="5m",
        template_ref=ObjectRef(name="error-rate", namespace="istio-system"),
        template_variables=freeze({"code": "5.."}),
    )
    query = metric_query(make_canary(metric), metric, {template.key: template})
    assert query == MetricQuery(
        promql='100 - sum( rate(requests{ns="test", app="podinfo", code!~"5.."} [5m]))',
        address="http://prometheus.istio-system:9090",
        template_key="istio-system/error-rate",
    )


def test_template_ref_defaults_to_the_canary_namespace() -> None:
    template = MetricTemplate(name="latency", namespace="test", query="q{{ name }}")
    metric = Metric(name="latency", template_ref=ObjectRef(name="latency"))
    query = metric_query(make_canary(metric), metric, {"test/latency": template})
    assert (query.promql, query.template_key, query.builtin) == (
        "qpodinfo-canary",
        "test/latency",
        False,
    )


def test_inline_query_is_used_as_is() -> None:
    metric = Metric(name="custom", query="sum(up)\n  by (job)")
    assert metric_query(make_canary(metric), metric, {}) == MetricQuery(promql="sum(up) by (job)")


@pytest.mark.parametrize(
    ("metric", "templates", "message"),
    [
        pytest.param(
            Metric(name="latency", template_ref=ObjectRef(name="latency")),
            {},
            "Metric template test/latency not found",
            id="missing-template",
        ),
        pytest.param(
            Metric(name="custom"),
            {},
            "no usable metrics template and query were configured",
            id="no-query",
        ),
        pytest.param(
            Metric(name="latency", template_ref=ObjectRef(name="latency")),
            {"test/latency": MetricTemplate(name="latency", namespace="test", query="{{ x }}")},
            "test/latency render error: function 'x' not defined",
            id="bad-template",
        ),
        pytest.param(
            Metric(name="dd", template_ref=ObjectRef(name="dd")),
            {"test/dd": MetricTemplate(name="dd", namespace="test", provider_type="datadog")},
            "provider 'datadog' is not supported",
            id="unsupported-provider",
        ),
    ],
)
def test_metric_query_errors(
    metric: Metric, templates: dict[str, MetricTemplate], message: str
) -> None:
    with pytest.raises(QueryRenderError, match=message):
        metric_query(make_canary(metric), metric, templates)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param((2, 2, 2, 100, "canary"), Readiness(ready=True), id="all-available"),
        pytest.param(
            (2, 2, 1, 100, "canary"),
            Readiness(
                ready=False,
                message="canary deployment podinfo.test not ready: waiting for rollout to "
                "finish: 1 of 2 (readyThreshold 100%) updated replicas are available",
            ),
            id="one-of-two-available",
        ),
        pytest.param(
            (2, 0, 0, 100, "canary"),
            Readiness(
                ready=False,
                message="canary deployment podinfo.test not ready: waiting for rollout to "
                "finish: 0 out of 2 new replicas have been updated",
            ),
            id="not-updated-yet",
        ),
        pytest.param((4, 4, 2, 50, "canary"), Readiness(ready=True), id="threshold-50-met"),
        pytest.param((3, 3, 1, 50, "canary"), Readiness(ready=True), id="threshold-floors"),
        pytest.param(
            (2, 2, 1, 100, "primary"),
            Readiness(
                ready=False,
                message="podinfo.test not ready: waiting for rollout to finish: "
                "1 of 2 (readyThreshold 100%) updated replicas are available",
            ),
            id="primary-wording",
        ),
        pytest.param(
            (0, 0, 0, 100, "primary"),
            Readiness(
                ready=False,
                message="halt podinfo.test advancement: primary deployment is scaled to zero",
            ),
            id="primary-scaled-to-zero",
        ),
        pytest.param((0, 0, 0, 100, "canary"), Readiness(ready=True), id="canary-at-zero"),
    ],
)
def test_readiness(args: tuple[int, int, int, int, str], expected: Readiness) -> None:
    spec, updated, available, threshold, kind = args
    assert readiness(spec, updated, available, threshold, "podinfo", "test", kind) == expected


def test_readiness_from_series_missing_is_unknown() -> None:
    result = readiness_from_series({SPEC_REPLICAS: 1.0}, 100, "podinfo", "test")
    assert not result.ready and not result.known
    assert "kube-state-metrics" in result.message
    assert UPDATED_REPLICAS in result.message and AVAILABLE_REPLICAS in result.message


def test_readiness_from_series_complete() -> None:
    values = {SPEC_REPLICAS: 2.0, UPDATED_REPLICAS: 2.0, AVAILABLE_REPLICAS: 2.0}
    assert readiness_from_series(values, 100, "podinfo", "test") == Readiness(ready=True)


def test_readiness_query_selects_the_three_series() -> None:
    query = readiness_query("test", 'odd"name')
    assert query == (
        '{__name__=~"kube_deployment_spec_replicas|kube_deployment_status_replicas_updated|'
        'kube_deployment_status_replicas_available",namespace="test",deployment="odd\\"name"}'
    )


@pytest.mark.parametrize(
    ("label", "sha"),
    [
        pytest.param("main@sha1:0123abc", "0123abc", id="flux-v2-form"),
        pytest.param("main/0123abc", "0123abc", id="flux-legacy-form"),
        pytest.param("0123abc", "0123abc", id="plain-sha"),
        pytest.param("sha1:0123abc", "0123abc", id="digest-only"),
        pytest.param("release/v1@sha1:0123abc", "0123abc", id="branch-with-slash"),
    ],
)
def test_parse_revision(label: str, sha: str) -> None:
    assert parse_revision(label) == sha


def test_applied_revision_query_names_kustomizations() -> None:
    assert APPLIED_REVISION_QUERY == 'gotk_resource_info{customresource_kind="Kustomization"}'
    assert applied_revision_query() == APPLIED_REVISION_QUERY


def test_cluster_labels_narrow_the_builtin_istio_queries() -> None:
    canary = Canary(name="podinfo", namespace="test", target=ObjectRef(name="podinfo"),
                    service=ServiceSpec(port=9898), analysis=Analysis())
    promql = metric_query(canary, Metric(name="request-success-rate", interval="1m"), {}).promql
    narrowed = with_cluster_labels(promql, {"cluster": "eu"})
    assert narrowed.count('reporter="destination",cluster="eu",') == 2
    assert narrowed.replace('cluster="eu",', "") == promql
    assert with_cluster_labels(promql, {}) == promql


def test_cluster_labels_narrow_the_flux_and_readiness_queries() -> None:
    labels = {"region": "eu", "cluster": 'prod"eu'}
    assert applied_revision_query(labels) == (
        'gotk_resource_info{customresource_kind="Kustomization",cluster="prod\\"eu",'
        'region="eu"}')
    assert readiness_query("test", "podinfo", labels).endswith(
        'namespace="test",deployment="podinfo",cluster="prod\\"eu",region="eu"}')


def test_query_outcome_no_data() -> None:
    assert QueryOutcome(value=None).no_data
    assert not QueryOutcome(value=None, error="boom").no_data
    assert not QueryOutcome(value=0.0).no_data
