"""Build a `Canary` from the plain data of a Flagger `Canary` document.

Called by `gitbot.core.parse.parse_document`. Applies Flagger's top-level and `spec.service`
defaults, delegates `spec.analysis` to `gitbot.core.parse_analysis`, and reports every problem.
"""

from __future__ import annotations

from gitbot.core.parse_analysis import parse_analysis
from gitbot.core.parse_fields import Node
from gitbot.core.parse_names import (
    CANARY_SUFFIX,
    PRIMARY_SUFFIX,
    SERVICE,
    SUBDOMAIN,
    derived_problem,
    name_problem,
)
from gitbot.core.spec import (
    Analysis,
    AutoscalerRef,
    Canary,
    ObjectRef,
    ServiceMetadata,
    ServiceSpec,
)

SPEC_FIELDS = frozenset({
    "provider", "metricsServer", "targetRef", "autoscalerRef", "ingressRef", "routeRef",
    "upstreamRef", "service", "analysis", "canaryAnalysis", "progressDeadlineSeconds",
    "skipAnalysis", "revertOnDeletion", "suspend",
})
SERVICE_FIELDS = frozenset({
    "name", "port", "portName", "targetPort", "appProtocol", "trafficDistribution",
    "portDiscovery", "headless", "timeout", "backendTimeout", "gateways", "gatewayRefs", "hosts",
    "delegation", "trafficPolicy", "match", "rewrite", "retries", "headers", "corsPolicy",
    "mirror", "meshName", "backends", "apex", "primary", "canary", "unmanagedMetadata",
})
TARGET_FIELDS = frozenset({"apiVersion", "kind", "name"})
AUTOSCALER_FIELDS = frozenset({
    "apiVersion", "kind", "name", "primaryScalerQueries", "primaryScalerReplicas",
})
SUPPORTED_PROVIDERS = ("istio",)


def parse_canary(spec: Node, name: str, namespace: str) -> Canary | None:
    """The Canary of `spec`, or None when something required is missing (already reported)."""
    spec.check_keys(SPEC_FIELDS)
    skip = spec.boolean("skipAnalysis")
    target = _target(spec)
    service = _service(spec)
    analysis = _analysis(spec, namespace, skip)
    provider = spec.string("provider", "istio")
    if provider not in SUPPORTED_PROVIDERS:
        spec.fail("provider", f"{provider!r} is not supported, gitbot drives Istio only")
    if target and service:
        _check_service_names(spec, target.name, service.name)
    canary = Canary(
        name=name,
        namespace=namespace,
        target=target or ObjectRef(name=""),
        service=service or ServiceSpec(port=0),
        analysis=analysis,
        autoscaler=_autoscaler(spec),
        progress_deadline_seconds=spec.integer("progressDeadlineSeconds", 600, 1),
        skip_analysis=skip,
        suspend=spec.boolean("suspend"),
        provider=provider,
        metrics_server=spec.string("metricsServer"),
    )
    return canary if target and service else None


def _analysis(spec: Node, namespace: str, skip: bool) -> Analysis:
    key = "analysis" if spec.has("analysis") or not spec.has("canaryAnalysis") else "canaryAnalysis"
    node = spec.child(key, required=not skip)
    return parse_analysis(node, namespace, skip) if node else Analysis()


def _target(spec: Node) -> ObjectRef | None:
    node = spec.child("targetRef", required=True)
    if node is None:
        return None
    node.check_keys(TARGET_FIELDS)
    name = node.name("name", SUBDOMAIN, required=True)
    problem = derived_problem(name, (PRIMARY_SUFFIX,), SUBDOMAIN, "the Deployment")
    if problem and name_problem(name, SUBDOMAIN) is None:
        node.fail("name", problem)
    kind = node.string("kind", "Deployment")
    if kind != "Deployment":
        node.fail("kind", f"{kind!r} is not supported, gitbot supports Deployment only")
    api_version = node.string("apiVersion", "apps/v1")
    return ObjectRef(name=name, kind=kind, api_version=api_version) if name else None


def _autoscaler(spec: Node) -> AutoscalerRef | None:
    node = spec.child("autoscalerRef")
    if node is None:
        return None
    node.check_keys(AUTOSCALER_FIELDS)
    kind = node.string("kind", "HorizontalPodAutoscaler")
    if kind != "HorizontalPodAutoscaler":
        node.fail("kind", f"{kind!r} is not supported, gitbot supports "
                  "HorizontalPodAutoscaler")
    replicas = node.child("primaryScalerReplicas")
    if replicas is not None:
        replicas.check_keys(frozenset({"minReplicas", "maxReplicas"}))
    name = node.name("name", SUBDOMAIN, required=True)
    problem = derived_problem(name, (PRIMARY_SUFFIX,), SUBDOMAIN, "the autoscaler")
    if problem and name_problem(name, SUBDOMAIN) is None:
        node.fail("name", problem)
    return AutoscalerRef(
        name=name,
        kind=kind,
        api_version=node.string("apiVersion", "autoscaling/v2"),
        primary_min_replicas=_optional_int(replicas, "minReplicas"),
        primary_max_replicas=_optional_int(replicas, "maxReplicas"),
    )


def _optional_int(node: Node | None, key: str) -> int | None:
    if node is None or not node.has(key):
        return None
    value = node.integer(key, -1, 1)
    return value if value >= 1 else None


def _service(spec: Node) -> ServiceSpec | None:
    node = spec.child("service", required=True)
    if node is None:
        return None
    node.check_keys(SERVICE_FIELDS)
    if not node.has("port"):
        node.fail("port", "is required")
    port = node.integer("port", 0, 1, 65535)
    service = ServiceSpec(
        port=port,
        name=node.name("name", SERVICE),
        port_name=node.string("portName", "http"),
        target_port=_target_port(node),
        app_protocol=_app_protocol(node),
        port_discovery=node.boolean("portDiscovery"),
        headless=node.boolean("headless"),
        traffic_distribution=_traffic_distribution(node),
        delegation=_delegation(node),
        gateways=node.strings("gateways"),
        hosts=node.strings("hosts"),
        traffic_policy=node.free("trafficPolicy"),
        retries=node.free("retries"),
        match=node.free("match", list) or (),
        rewrite=node.free("rewrite"),
        timeout=node.string("timeout"),
        headers=node.free("headers"),
        cors_policy=node.free("corsPolicy"),
        apex=_metadata(node, "apex"),
        primary=_metadata(node, "primary"),
        canary=_metadata(node, "canary"),
    )
    return service if port else None


def _check_service_names(spec: Node, target: str, service: str) -> None:
    """The apex, `-primary` and `-canary` Services are named after `service.name`, else after
    the target (Flagger's `GetServiceNames`): each must be a Service name Kubernetes accepts."""
    at, base = ("service", "name") if service else ("targetRef", "name"), service or target
    if name_problem(base, SUBDOMAIN if not service else SERVICE) is not None:
        return  # already reported as it is
    problem = name_problem(base, SERVICE)
    if problem:
        spec.report.add((*spec.at, *at), "without service.name it is also the Service "
                        f"name: {problem}")
        return
    problem = derived_problem(base, (PRIMARY_SUFFIX, CANARY_SUFFIX), SERVICE, "the Services")
    if problem:
        spec.report.add((*spec.at, *at), problem)


TRAFFIC_DISTRIBUTIONS = ("PreferClose", "PreferSameZone", "PreferSameNode")


def _app_protocol(node: Node) -> str:
    value = node.string("appProtocol")
    if value.lower() == "tcp":
        node.fail("appProtocol", "tcp (Istio tcp routes) is not supported yet; gitbot writes "
                  "http routes, which would not carry this service's traffic")
    return value


def _traffic_distribution(node: Node) -> str:
    value = node.string("trafficDistribution")
    if value and value not in TRAFFIC_DISTRIBUTIONS:
        node.fail("trafficDistribution", f"must be one of {', '.join(TRAFFIC_DISTRIBUTIONS)}")
    return value


def _delegation(node: Node) -> bool:
    delegation = node.boolean("delegation")
    if delegation and (node.strings("hosts") or node.strings("gateways")):
        node.fail("delegation", "a delegate VirtualService has no hosts or gateways: "
                  "remove service.hosts and service.gateways")
    return delegation


def _target_port(node: Node) -> int | str | None:
    value = node.data.get("targetPort")
    if value is None or (isinstance(value, str) and value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    node.fail("targetPort", "must be a port number (1-65535) or a port name")
    return None


def _metadata(service: Node, key: str) -> ServiceMetadata:
    node = service.child(key)
    if node is None:
        return ServiceMetadata()
    node.check_keys(frozenset({"labels", "annotations"}))
    return ServiceMetadata(
        labels=node.string_map("labels"), annotations=node.string_map("annotations")
    )
