"""PromQL for gitbot: builtin Istio queries, MetricTemplate rendering, readiness, revision.

Pure functions. `gitbot.adapters.prometheus` runs the queries built here; the reconciler calls
`metric_query` (through the adapter) for every `analysis.metrics[]` entry of a canary.

Templates use Flagger's Go-template subset: `{{ name }}`, `{{ namespace }}`, `{{ target }}`,
`{{ service }}`, `{{ ingress }}`, `{{ route }}`, `{{ interval }}` and `{{ variables.<key> }}`,
with optional whitespace and `{{-`/`-}}` trim markers. Flagger renders with `missingkey=error`,
so an unknown name or variable is a `QueryRenderError` that names it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitbot.core.spec import Canary, Metric, MetricTemplate
from gitbot.core.state import Readiness

SUCCESS_RATE = "request-success-rate"
DURATION = "request-duration"

_ISTIO_SELECTOR = (
    'reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)

#: Flagger's builtin Istio queries (pkg/metrics/observers/istio.go), as templates.
BUILTIN_QUERIES: Mapping[str, str] = {
    SUCCESS_RATE: (
        "sum(rate(istio_requests_total{"
        + _ISTIO_SELECTOR
        + ',response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{'
        + _ISTIO_SELECTOR
        + "}[{{ interval }}])) * 100"
    ),
    DURATION: (
        "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
        + _ISTIO_SELECTOR
        + "}[{{ interval }}])) by (le))"
    ),
}

SPEC_REPLICAS = "kube_deployment_spec_replicas"
UPDATED_REPLICAS = "kube_deployment_status_replicas_updated"
AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"

#: Flux's applied-revision series (Flux monitoring setup, kube-state-metrics custom resources).
APPLIED_REVISION_QUERY = 'gotk_resource_info{customresource_kind="Kustomization"}'


def extra_matchers(matchers: Mapping[str, str] | None) -> str:
    """`,key="value"` for each extra label matcher (config `flux.clusterLabels`), sorted."""
    pairs = sorted((matchers or {}).items())
    return "".join(f",{key}={label_value(value)}" for key, value in pairs)


def with_cluster_labels(promql: str, matchers: Mapping[str, str] | None) -> str:
    """A builtin Istio query (BUILTIN_QUERIES, rendered) narrowed to one cluster's series."""
    if not matchers:
        return promql
    head = 'reporter="destination",'
    return promql.replace(head, head + extra_matchers(matchers)[1:] + ",")


def applied_revision_query(matchers: Mapping[str, str] | None = None) -> str:
    """APPLIED_REVISION_QUERY narrowed to one cluster's series (`cluster="prod-eu"`)."""
    return APPLIED_REVISION_QUERY[:-1] + extra_matchers(matchers) + "}"

_EXPR = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_IDENT = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?")


class QueryRenderError(ValueError):
    """A query cannot be built: missing template, unknown variable, unsupported provider."""


@dataclass(frozen=True)
class MetricQuery:
    """A rendered metric query and where to run it (`address` "" = the default Prometheus)."""

    promql: str
    address: str = ""
    template_key: str = ""  # "namespace/name" of the MetricTemplate, "" for builtin/inline
    builtin: bool = False


@dataclass(frozen=True)
class QueryOutcome:
    """The result of one instant query: a value, no data (both None), or an error text."""

    value: float | None
    error: str | None = None

    @property
    def no_data(self) -> bool:
        return self.value is None and self.error is None


def render_query(
    template: str,
    *,
    name: str,
    namespace: str,
    target: str,
    service: str,
    interval: str,
    variables: Mapping[str, str],
) -> str:
    """Render a Flagger query template; an unknown name or missing variable is an error."""
    names = {
        "name": name,
        "namespace": namespace,
        "target": target,
        "service": service,
        "ingress": target,
        "route": target,
        "interval": interval,
    }

    def substitute(match: re.Match[str]) -> str:
        return _lookup(match.group(1), names, variables)

    text = re.sub(r"\s*\{\{-\s", "{{ ", template)
    text = re.sub(r"\s-\}\}\s*", " }}", text)
    return _EXPR.sub(substitute, text)


def _lookup(expr: str, names: Mapping[str, str], variables: Mapping[str, str]) -> str:
    match = _IDENT.fullmatch(expr)
    if match is None:
        raise QueryRenderError(f"unsupported template expression {{{{ {expr} }}}}")
    head, key = match.group(1), match.group(2)
    if head == "variables" and key is not None:
        if key not in variables:
            raise QueryRenderError(f"map has no entry for key {key!r} (templateVariables)")
        return variables[key]
    if key is None and head in names:
        return names[head]
    raise QueryRenderError(f"function {expr!r} not defined in query template")


def collapse_whitespace(promql: str) -> str:
    """Join a multi-line query into one line, as Flagger does before sending it."""
    return " ".join(promql.split())


def template_key(canary: Canary, metric: Metric) -> str:
    """`namespace/name` of the MetricTemplate a metric refers to ("" when none)."""
    ref = metric.template_ref
    if ref is None:
        return ""
    return f"{ref.namespace or canary.namespace}/{ref.name}"


def metric_query(
    canary: Canary, metric: Metric, templates: Mapping[str, MetricTemplate]
) -> MetricQuery:
    """Build the query for one `analysis.metrics[]` entry (template, builtin or inline)."""
    if metric.template_ref is not None:
        return _template_query(canary, metric, templates)
    if metric.name in BUILTIN_QUERIES:
        promql = _render_for(canary, metric, BUILTIN_QUERIES[metric.name])
        return MetricQuery(promql=promql, address=canary.metrics_server, builtin=True)
    if metric.query.strip():
        return MetricQuery(promql=collapse_whitespace(metric.query), address=canary.metrics_server)
    raise QueryRenderError(
        f"Metric {metric.name}: no usable metrics template and query were configured"
    )


def _template_query(
    canary: Canary, metric: Metric, templates: Mapping[str, MetricTemplate]
) -> MetricQuery:
    key = template_key(canary, metric)
    template = templates.get(key)
    if template is None:
        raise QueryRenderError(f"Metric template {key} not found")
    if template.provider_type not in ("", "prometheus"):
        raise QueryRenderError(
            f"Metric template {key}: provider {template.provider_type!r} is not supported"
        )
    if not template.query.strip():
        raise QueryRenderError(
            f"Metric {metric.name}: no usable metrics template and query were configured"
        )
    try:
        promql = _render_for(canary, metric, template.query)
    except QueryRenderError as exc:
        raise QueryRenderError(f"Metric template {key} render error: {exc}") from exc
    return MetricQuery(promql=promql, address=template.address, template_key=key)


def _render_for(canary: Canary, metric: Metric, template: str) -> str:
    rendered = render_query(
        template,
        name=canary.name,
        namespace=canary.namespace,
        target=canary.target.name,
        service=canary.service_name,
        interval=metric.interval,
        variables=metric.template_variables,
    )
    return collapse_whitespace(rendered)


def label_value(value: str) -> str:
    """Quote a PromQL label value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def readiness_query(namespace: str, deployment: str,
                    matchers: Mapping[str, str] | None = None) -> str:
    """One query returning the three kube-state-metrics series of a Deployment (by __name__),
    of one cluster when `matchers` (config `flux.clusterLabels`) are given."""
    names = "|".join((SPEC_REPLICAS, UPDATED_REPLICAS, AVAILABLE_REPLICAS))
    return (
        f'{{__name__=~"{names}",namespace={label_value(namespace)},'
        f"deployment={label_value(deployment)}{extra_matchers(matchers)}}}"
    )


def readiness_series_query(series: str, namespace: str, deployment: str) -> str:
    """The query for one kube-state-metrics Deployment series."""
    return f"{series}{{namespace={label_value(namespace)},deployment={label_value(deployment)}}}"


def readiness(
    spec_replicas: int,
    updated: int,
    available: int,
    threshold_pct: int,
    name: str,
    namespace: str,
    kind: str = "canary",
) -> Readiness:
    """Flagger's Deployment readiness rule and messages (pkg/canary/deployment_ready.go)."""
    if kind == "primary" and spec_replicas == 0:
        return Readiness(
            ready=False,
            message=f"halt {name}.{namespace} advancement: primary deployment is scaled to zero",
        )
    prefix = f"canary deployment {name}.{namespace}" if kind == "canary" else f"{name}.{namespace}"
    wanted = math.floor(updated * threshold_pct / 100)
    if updated < spec_replicas:
        reason = f"{updated} out of {spec_replicas} new replicas have been updated"
    elif available < wanted:
        reason = (
            f"{available} of {wanted} (readyThreshold {threshold_pct}%) "
            "updated replicas are available"
        )
    else:
        return Readiness(ready=True)
    return Readiness(
        ready=False, message=f"{prefix} not ready: waiting for rollout to finish: {reason}"
    )


def readiness_from_series(
    values: Mapping[str, float], threshold_pct: int, name: str, namespace: str, kind: str = "canary"
) -> Readiness:
    """Readiness from `{series name: value}`; a missing series gives `known=False`."""
    missing = [s for s in (SPEC_REPLICAS, UPDATED_REPLICAS, AVAILABLE_REPLICAS) if s not in values]
    if missing:
        return Readiness(
            ready=False,
            known=False,
            message=(
                f"{kind} deployment {name}.{namespace} readiness unknown: kube-state-metrics "
                f"series missing in Prometheus: {', '.join(missing)}"
            ),
        )
    spec, updated, available = (
        int(values[s]) for s in (SPEC_REPLICAS, UPDATED_REPLICAS, AVAILABLE_REPLICAS)
    )
    return readiness(spec, updated, available, threshold_pct, name, namespace, kind)


def applied_commit(revision: str, origin: str = "") -> str:
    """The commit a Kustomization applied, from its series' `revision` and `origin_revision`
    labels; "" when it is not a commit: an ExternalArtifact's `latest@sha256:<digest>` without
    Flux 2.7's `status.lastAppliedOriginRevision` (the Git revision it was generated from)."""
    if origin.strip():
        return parse_revision(origin)
    if "@sha256:" in revision or revision.strip().startswith("sha256:"):
        return ""
    return parse_revision(revision)


def parse_revision(label: str) -> str:
    """The commit sha of a Flux revision label: `main@sha1:<sha>`, `main/<sha>` or `<sha>`."""
    text = label.strip()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    if ":" in text:
        text = text.split(":", 1)[1]
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    return text
