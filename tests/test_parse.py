"""Pure parsing of Flagger documents: defaults, durations and per-field problems."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gitbot.core.durations import analysis_interval_seconds, parse_duration
from gitbot.core.parse import parse_document
from gitbot.core.parse_fields import FieldPath, dotted
from gitbot.core.spec import (
    AlertProvider,
    Canary,
    MetricTemplate,
    ObjectRef,
    Severity,
    Strategy,
    WebhookType,
)

CANARY: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
        "analysis": {"stepWeight": 10},
    },
}


def line_of(at: FieldPath) -> int:
    """A stand-in locator: the depth of the path, so tests can see which path was asked for."""
    return len(at) + 1


def canary(analysis: Mapping[str, Any] | None = None, **spec: Any) -> Canary:
    doc = copy.deepcopy(CANARY)
    doc["spec"].update(spec)
    if analysis is not None:
        doc["spec"]["analysis"] = dict(analysis)
    parsed, problems = parse_document(doc, line_of, "delivery/podinfo.yaml")
    assert problems == []
    assert isinstance(parsed, Canary)
    return parsed


def problems_of(doc: Mapping[str, Any], locate: Callable[[FieldPath], int] = line_of) -> list[str]:
    parsed, problems = parse_document(doc, locate, "delivery/podinfo.yaml")
    assert parsed is None, "a document with problems must not be returned"
    return [str(p) for p in problems]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("30s", 30, id="seconds"),
        pytest.param("1m", 60, id="minutes"),
        pytest.param("2h", 7200, id="hours"),
        pytest.param("1m30s", 90, id="compound"),
        pytest.param(" 5m ", 300, id="surrounding-space"),
        pytest.param("", None, id="empty"),
        pytest.param("1", None, id="no-unit"),
        pytest.param("1d", None, id="unknown-unit"),
        pytest.param("m1", None, id="unit-first"),
        pytest.param("1.5m", None, id="fraction"),
        pytest.param("one minute", None, id="words"),
    ],
)
def test_parse_duration(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        pytest.param(None, 60, id="absent-is-60s"),
        pytest.param("", 60, id="empty-is-60s"),
        pytest.param("soon", 60, id="unparsable-is-60s"),
        pytest.param("5s", 10, id="at-least-10s"),
        pytest.param("10s", 10, id="exactly-10s"),
        pytest.param("2m", 120, id="two-minutes"),
    ],
)
def test_analysis_interval_seconds(raw: str | None, seconds: int) -> None:
    assert analysis_interval_seconds(raw) == seconds


@pytest.mark.parametrize(
    ("analysis", "attribute", "expected"),
    [
        pytest.param({"stepWeight": 10}, "interval_seconds", 60, id="interval-default-60s"),
        pytest.param({"stepWeight": 10, "interval": "30s"}, "interval_seconds", 30,
                     id="interval-seconds"),
        pytest.param({"stepWeight": 10, "interval": "2m"}, "interval_seconds", 120,
                     id="interval-minutes"),
        pytest.param({"stepWeight": 10, "interval": "5s"}, "interval_seconds", 10,
                     id="interval-at-least-10s"),
        pytest.param({"stepWeight": 10}, "threshold", 1, id="threshold-default-1"),
        pytest.param({"stepWeight": 10, "threshold": 0}, "threshold", 1, id="threshold-zero-is-1"),
        pytest.param({"stepWeight": 10, "threshold": -2}, "threshold", 1,
                     id="threshold-negative-is-1"),
        pytest.param({"stepWeight": 10, "threshold": 5}, "threshold", 5, id="threshold-given"),
        pytest.param({"stepWeight": 10}, "max_weight", 100, id="max-weight-default-100"),
        pytest.param({"stepWeight": 10, "maxWeight": 50}, "max_weight", 50, id="max-weight-given"),
        pytest.param({"stepWeights": [5, 10, 40], "maxWeight": 80}, "max_weight", 40,
                     id="max-weight-is-last-step-weight"),
        pytest.param({"stepWeights": [1, 2, 10, 80]}, "step_weights", (1, 2, 10, 80),
                     id="step-weights"),
        pytest.param({"stepWeight": 10}, "step_weight_promotion", 0,
                     id="step-weight-promotion-default-0"),
        pytest.param({"stepWeight": 10, "stepWeightPromotion": 25}, "step_weight_promotion", 25,
                     id="step-weight-promotion-given"),
        pytest.param({"stepWeight": 10}, "iterations", 0, id="iterations-default-0"),
        pytest.param({"iterations": 10}, "iterations", 10, id="iterations-given"),
        pytest.param({"stepWeight": 10}, "mirror", False, id="mirror-default-off"),
        pytest.param({"stepWeight": 10}, "mirror_weight", None, id="mirror-weight-unset"),
        pytest.param({"iterations": 5, "mirror": True, "mirrorWeight": 50}, "mirror_weight", 50,
                     id="mirror-weight-given"),
        pytest.param({"stepWeight": 10}, "primary_ready_threshold", 100,
                     id="primary-ready-threshold-100"),
        pytest.param({"stepWeight": 10}, "canary_ready_threshold", 100,
                     id="canary-ready-threshold-100"),
        pytest.param({"stepWeight": 10, "canaryReadyThreshold": 50}, "canary_ready_threshold", 50,
                     id="canary-ready-threshold-given"),
        pytest.param({"stepWeight": 10}, "session_affinity", None, id="no-session-affinity"),
        pytest.param({"stepWeight": 10}, "metrics", (), id="no-metrics"),
    ],
)
def test_analysis_defaults(analysis: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(canary(analysis).analysis, attribute) == expected


@pytest.mark.parametrize(
    ("spec", "attribute", "expected"),
    [
        pytest.param({}, "progress_deadline_seconds", 600, id="progress-deadline-600"),
        pytest.param({"progressDeadlineSeconds": 60}, "progress_deadline_seconds", 60,
                     id="progress-deadline-given"),
        pytest.param({}, "provider", "istio", id="provider-istio"),
        pytest.param({}, "skip_analysis", False, id="skip-analysis-off"),
        pytest.param({"skipAnalysis": True}, "skip_analysis", True, id="skip-analysis-on"),
        pytest.param({}, "suspend", False, id="suspend-off"),
        pytest.param({}, "metrics_server", "", id="metrics-server-unset"),
        pytest.param({}, "autoscaler", None, id="no-autoscaler"),
        pytest.param({}, "service_name", "podinfo", id="service-name-is-target"),
        pytest.param({}, "primary_name", "podinfo-primary", id="primary-name"),
        pytest.param({}, "strategy", Strategy.CANARY, id="strategy-canary"),
    ],
)
def test_canary_defaults(spec: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(canary(**spec), attribute) == expected


@pytest.mark.parametrize(
    ("service", "attribute", "expected"),
    [
        pytest.param({"port": 9898}, "port_name", "http", id="port-name-http"),
        pytest.param({"port": 9898}, "target_port", None, id="target-port-unset"),
        pytest.param({"port": 9898, "targetPort": "http"}, "target_port", "http",
                     id="target-port-name"),
        pytest.param({"port": 9898, "targetPort": 8080}, "target_port", 8080,
                     id="target-port-number"),
        pytest.param({"port": 9898}, "gateways", (), id="no-gateways"),
        pytest.param({"port": 9898, "hosts": ["app.example.com"]}, "hosts", ("app.example.com",),
                     id="hosts"),
        pytest.param({"port": 9898, "timeout": "5s"}, "timeout", "5s", id="timeout"),
        pytest.param({"port": 9898, "name": "frontend"}, "name", "frontend", id="name"),
        pytest.param({"port": 9898}, "port_discovery", False, id="port-discovery-off"),
        pytest.param({"port": 9898, "portDiscovery": True}, "port_discovery", True,
                     id="port-discovery"),
        pytest.param({"port": 9898, "headless": True}, "headless", True, id="headless"),
        pytest.param({"port": 9898, "trafficDistribution": "PreferClose"},
                     "traffic_distribution", "PreferClose", id="traffic-distribution"),
        pytest.param({"port": 9898, "delegation": True}, "delegation", True, id="delegation"),
        pytest.param({"port": 9898, "appProtocol": "http"}, "app_protocol", "http",
                     id="app-protocol-http"),
    ],
)
def test_service_defaults(service: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(canary(service=service).service, attribute) == expected


def test_free_form_istio_fields_are_frozen() -> None:
    service = {
        "port": 9898,
        "trafficPolicy": {"tls": {"mode": "DISABLE"}},
        "match": [{"uri": {"prefix": "/api"}}],
        "retries": {"attempts": 3, "perTryTimeout": "1s"},
        "apex": {"annotations": {"team": "a"}},
    }
    parsed = canary(service=service).service
    assert parsed.traffic_policy["tls"]["mode"] == "DISABLE"
    assert parsed.match == ({"uri": {"prefix": "/api"}},)
    assert parsed.retries["attempts"] == 3
    assert parsed.apex.annotations == {"team": "a"}
    with pytest.raises(TypeError):
        parsed.traffic_policy["tls"] = {}


def test_metric_webhook_alert_defaults() -> None:
    analysis = {
        "stepWeight": 10,
        "metrics": [{"name": "error-rate", "templateRef": {"name": "error-rate"},
                     "templateVariables": {"route": "/api"}, "thresholdRange": {"max": 1}}],
        "webhooks": [{"name": "load-test", "url": "http://loadtester/"},
                     {"name": "gate", "type": "confirm-promotion", "url": "http://gate/",
                      "timeout": "1", "retries": 2, "muteAlert": True}],
        "alerts": [{"name": "on-call", "providerRef": {"name": "slack"}},
                   {"name": "dev", "severity": "warn",
                    "providerRef": {"name": "teams", "namespace": "ops"}}],
    }
    parsed = canary(analysis).analysis
    metric = parsed.metrics[0]
    assert metric.interval == "1m"
    assert metric.template_ref == ObjectRef(name="error-rate", namespace="test")
    assert metric.template_variables == {"route": "/api"}
    assert (metric.threshold_range.min, metric.threshold_range.max) == (None, 1.0)
    load, gate = parsed.webhooks
    assert (load.type, load.timeout_seconds, load.retries) == (WebhookType.ROLLOUT, 10.0, 0)
    assert (gate.type, gate.timeout_seconds, gate.retries) == (WebhookType.CONFIRM_PROMOTION,
                                                               10.0, 2)
    assert gate.mute_alert and parsed.hooks(WebhookType.CONFIRM_PROMOTION) == (gate,)
    on_call, dev = parsed.alerts
    assert on_call.severity is None
    assert on_call.provider_ref == ObjectRef(name="slack", namespace="test")
    assert (dev.severity, dev.provider_ref.namespace) == (Severity.WARN, "ops")


def test_session_affinity_default_max_age() -> None:
    parsed = canary({"stepWeight": 10, "sessionAffinity": {"cookieName": "c"}}).analysis
    assert parsed.session_affinity is not None
    assert (parsed.session_affinity.cookie_name, parsed.session_affinity.max_age) == ("c", 86400)


@pytest.mark.parametrize(
    ("analysis", "strategy"),
    [
        pytest.param({"stepWeight": 10}, Strategy.CANARY, id="step-weight-is-canary"),
        pytest.param({"iterations": 10}, Strategy.BLUE_GREEN, id="iterations-is-blue-green"),
        pytest.param({"iterations": 10, "match": [{"headers": {"x-canary": {"exact": "1"}}}]},
                     Strategy.AB_TESTING, id="match-and-iterations-is-ab"),
    ],
)
def test_strategy(analysis: dict[str, Any], strategy: Strategy) -> None:
    assert canary(analysis).strategy is strategy


def test_namespace_falls_back_to_the_given_default() -> None:
    doc = copy.deepcopy(CANARY)
    del doc["metadata"]["namespace"]
    parsed, problems = parse_document(doc, line_of, "a.yaml", namespace="prod")
    assert problems == [] and isinstance(parsed, Canary)
    assert parsed.key == "prod/podinfo"


def test_source_records_path_line_and_document() -> None:
    parsed, _ = parse_document(CANARY, lambda at: 7, "delivery/podinfo.yaml", document=2)
    assert parsed is not None and parsed.source is not None
    assert (parsed.source.path, parsed.source.line, parsed.source.document) == (
        "delivery/podinfo.yaml", 7, 2)


def test_metric_template_defaults() -> None:
    doc = {"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
           "metadata": {"name": "error-rate", "namespace": "test"},
           "spec": {"provider": {"address": "http://prom:9090",
                                 "headers": {"X-Scope-OrgID": "team-a"}},
                    "query": "sum(up)"}}
    parsed, problems = parse_document(doc, line_of, "t.yaml")
    assert problems == []
    assert parsed == MetricTemplate(name="error-rate", namespace="test",
                                    provider_type="prometheus", address="http://prom:9090",
                                    headers={"X-Scope-OrgID": "team-a"}, query="sum(up)")


def test_alert_provider_defaults() -> None:
    doc = {"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
           "metadata": {"name": "on-call"},
           "spec": {"type": "msteams", "secretRef": {"name": "teams-url"}}}
    parsed, problems = parse_document(doc, line_of, "a.yaml")
    assert problems == []
    assert parsed == AlertProvider(name="on-call", namespace="default", type="msteams",
                                   channel="general", username="flagger", secret_ref="teams-url")


@pytest.mark.parametrize(
    ("at", "text"),
    [
        pytest.param(("spec", "analysis", "stepWeight"), "analysis.stepWeight", id="spec-dropped"),
        pytest.param(("spec", "analysis", "metrics", 0, "name"), "analysis.metrics[0].name",
                     id="list-index"),
        pytest.param(("metadata", "name"), "metadata.name", id="metadata"),
        pytest.param(("spec",), "", id="spec-itself"),
    ],
)
def test_dotted_field_names(at: FieldPath, text: str) -> None:
    assert dotted(at) == text


def bad(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """CANARY with one field (under spec) set to `value`."""
    doc = copy.deepcopy(CANARY)
    node = doc["spec"]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return doc


P = "delivery/podinfo.yaml"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(bad(("analysis", "stepWeight"), 0),
                     f"{P}:4: Canary test/podinfo: analysis.stepWeight: must be between 1 and 100",
                     id="step-weight-zero"),
        pytest.param(bad(("analysis", "stepWeight"), True),
                     f"{P}:4: Canary test/podinfo: analysis.stepWeight: must be an integer, "
                     "got boolean True", id="step-weight-boolean"),
        pytest.param(bad(("analysis", "maxWeight"), 10.5),
                     f"{P}:4: Canary test/podinfo: analysis.maxWeight: must be an integer, "
                     "got number 10.5", id="max-weight-float"),
        pytest.param(bad(("analysis", "stepWeights"), [10, 10]),
                     f"{P}:5: Canary test/podinfo: analysis.stepWeights[1]: must be greater than "
                     "the previous step 10", id="step-weights-equal"),
        pytest.param(bad(("analysis", "stepWeights"), [0, 10]),
                     f"{P}:5: Canary test/podinfo: analysis.stepWeights[0]: must be between 1 and "
                     "100", id="step-weights-zero"),
        pytest.param(bad(("analysis", "iterations"), 3),
                     f"{P}:4: Canary test/podinfo: analysis.iterations: cannot be combined with "
                     "stepWeight or stepWeights (iterations selects blue/green or A/B testing)",
                     id="iterations-with-step-weight"),
        pytest.param(bad(("analysis", "mirrorWeight"), 120),
                     f"{P}:4: Canary test/podinfo: analysis.mirrorWeight: must be between 0 and "
                     "100", id="mirror-weight-over-100"),
        pytest.param(bad(("analysis", "sessionAffinity"), {"cookieName": "a", "sameSite": "lax"}),
                     f"{P}:5: Canary test/podinfo: analysis.sessionAffinity.sameSite: must be one "
                     "of Strict, Lax, None", id="same-site-case"),
        pytest.param(bad(("analysis", "metrics"), [{"name": "x", "query": "up", "interval": "1"}]),
                     f"{P}:6: Canary test/podinfo: analysis.metrics[0].interval: must be a "
                     "duration such as 30s, 1m or 1h", id="metric-interval-no-unit"),
        pytest.param(bad(("analysis", "webhooks"), [{"name": "x", "url": "u", "timeout": "1 m"}]),
                     f"{P}:6: Canary test/podinfo: analysis.webhooks[0].timeout: must be a "
                     "duration such as 30s, 1m or 1h", id="webhook-bad-timeout"),
        pytest.param(bad(("analysis", "alerts"), [{"name": "x"}]),
                     f"{P}:6: Canary test/podinfo: analysis.alerts[0].providerRef: is required",
                     id="alert-without-provider-ref"),
        pytest.param(bad(("analysis", "metrics"), ["request-success-rate"]),
                     f"{P}:5: Canary test/podinfo: analysis.metrics[0]: must be a mapping, got "
                     "string", id="metric-not-a-mapping"),
        pytest.param(bad(("analysis", "webhooks"), {"name": "x"}),
                     f"{P}:4: Canary test/podinfo: analysis.webhooks: must be a list, got mapping "
                     "{'name': 'x'}", id="webhooks-not-a-list"),
        pytest.param(bad(("service", "port"), 70000),
                     f"{P}:4: Canary test/podinfo: service.port: must be between 1 and 65535",
                     id="port-out-of-range"),
        pytest.param(bad(("service", "gateways"), "mesh"),
                     f"{P}:4: Canary test/podinfo: service.gateways: must be a list, got string "
                     "'mesh'", id="gateways-not-a-list"),
        pytest.param(bad(("service", "appProtocol"), "tcp"),
                     f"{P}:4: Canary test/podinfo: service.appProtocol: tcp (Istio tcp routes) is "
                     "not supported yet; gitbot writes http routes, which would not carry this "
                     "service's traffic", id="tcp-service"),
        pytest.param(bad(("service", "trafficDistribution"), "Nearby"),
                     f"{P}:4: Canary test/podinfo: service.trafficDistribution: must be one of "
                     "PreferClose, PreferSameZone, PreferSameNode",
                     id="traffic-distribution-unknown"),
        pytest.param(bad(("service",), {"port": 9898, "delegation": True,
                                        "hosts": ["app.example.com"]}),
                     f"{P}:4: Canary test/podinfo: service.delegation: a delegate VirtualService "
                     "has no hosts or gateways: remove service.hosts and service.gateways",
                     id="delegation-with-hosts"),
        pytest.param(bad(("service", "prot"), 80),
                     f"{P}:4: Canary test/podinfo: service.prot: unknown field", id="service-typo"),
        pytest.param(bad(("targetRef", "nmae"), "podinfo"),
                     f"{P}:4: Canary test/podinfo: targetRef.nmae: unknown field",
                     id="target-ref-typo"),
        pytest.param(bad(("autoscalerRef",), {"kind": "ScaledObject", "name": "podinfo"}),
                     f"{P}:4: Canary test/podinfo: autoscalerRef.kind: 'ScaledObject' is not "
                     "supported, gitbot supports HorizontalPodAutoscaler", id="keda-scaler"),
        pytest.param(bad(("suspend",), "yes"),
                     f"{P}:3: Canary test/podinfo: suspend: must be true or false, got string "
                     "'yes'", id="suspend-string"),
        pytest.param(bad(("analysis", "metrics"), [{"name": "m", "query": "up",
                                                    "templateVariables": {"n": 3}}]),
                     f"{P}:7: Canary test/podinfo: analysis.metrics[0].templateVariables.n: must "
                     "be a string, got number 3", id="template-variable-number"),
    ],
)
def test_one_problem(doc: dict[str, Any], expected: str) -> None:
    assert problems_of(doc) == [expected]


def test_every_problem_of_a_document_is_reported() -> None:
    doc = copy.deepcopy(CANARY)
    doc["spec"]["service"] = {"port": "http"}
    doc["spec"]["analysis"] = {"stepWeight": 0, "interval": "1x", "threshold": "5",
                               "metrics": [{"thresholdRange": {"min": 2, "max": 1}}]}
    fields = [p.split(": ")[2] for p in problems_of(doc)]
    assert fields == ["service.port", "analysis.stepWeight", "analysis.interval",
                      "analysis.threshold", "analysis.metrics[0].name",
                      "analysis.metrics[0].thresholdRange.min"]


def test_unknown_top_level_and_kind() -> None:
    doc = copy.deepcopy(CANARY)
    doc["specs"] = {}
    assert problems_of(doc) == [f"{P}:2: Canary test/podinfo: specs: unknown field"]
    other = {"apiVersion": "flagger.app/v1alpha3", "kind": "Canary", "metadata": {"name": "x"}}
    assert problems_of(other) == [
        f"{P}:2: Canary: apiVersion: unsupported apiVersion 'flagger.app/v1alpha3', expected "
        "flagger.app/v1beta1"]
