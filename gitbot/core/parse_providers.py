"""Build `MetricTemplate` and `AlertProvider` from the plain data of their documents.

Called by `gitbot.core.parse.parse_document`; applies Flagger's defaults (metric.go, alert.go)
and reports every problem through the `Node` it is given.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitbot.core.parse_fields import Node
from gitbot.core.parse_names import SUBDOMAIN
from gitbot.core.spec import EMPTY, AlertProvider, MetricTemplate, freeze

METRIC_PROVIDER_TYPES = (
    "prometheus", "influxdb", "datadog", "externalmetrics", "stackdriver", "cloudwatch",
    "newrelic", "graphite", "dynatrace", "keptn", "splunk",
)
ALERT_PROVIDER_TYPES = ("slack", "msteams", "discord", "rocket", "gchat")
PROVIDER_FIELDS = frozenset({
    "type", "address", "secretRef", "headers", "region", "insecureSkipVerify",
})


def parse_metric_template(spec: Node, name: str, namespace: str) -> MetricTemplate:
    """A MetricTemplate; only the prometheus provider is accepted (gitbot evaluates no other)."""
    spec.check_keys(frozenset({"provider", "query"}))
    provider = spec.child("provider") or spec.report.root({}, (*spec.at, "provider"))
    provider.check_keys(PROVIDER_FIELDS)
    kind = provider.string("type", "prometheus")
    if kind not in METRIC_PROVIDER_TYPES:
        provider.fail("type", f"unknown provider type {kind!r}")
    elif kind != "prometheus":
        provider.fail("type", f"provider type {kind!r} is not supported, gitbot queries "
                      "Prometheus only")
    return MetricTemplate(
        name=name,
        namespace=namespace,
        provider_type=kind,
        address=provider.string("address"),
        secret_ref=_secret_name(provider),
        headers=_headers(provider),
        query=spec.string("query", required=True),
        insecure_skip_verify=provider.boolean("insecureSkipVerify"),
    )


def parse_alert_provider(spec: Node, name: str, namespace: str) -> AlertProvider:
    """An AlertProvider of type slack, msteams, discord, rocket or gchat."""
    spec.check_keys(frozenset({"type", "channel", "username", "address", "proxy", "secretRef"}))
    kind = spec.string("type", required=True)
    if kind and kind not in ALERT_PROVIDER_TYPES:
        spec.fail("type", f"unknown alert provider type {kind!r}, expected one of "
                  f"{', '.join(ALERT_PROVIDER_TYPES)}")
    address, secret = spec.string("address"), _secret_name(spec)
    if not address and not secret and "secretRef" not in spec.data:
        spec.report.add(spec.at, "needs an address or a secretRef")
    return AlertProvider(
        name=name,
        namespace=namespace,
        type=kind,
        channel=spec.string("channel", "general"),
        username=spec.string("username", "flagger"),
        address=address,
        secret_ref=secret,
        proxy=spec.string("proxy"),
    )


def _secret_name(parent: Node) -> str:
    node = parent.child("secretRef")
    if node is None:
        return ""
    node.check_keys(frozenset({"name"}))
    return node.name("name", SUBDOMAIN, required=True)


def _headers(provider: Node) -> Mapping[str, str]:
    """`provider.headers`: each value a string or a list of strings (joined with `, `)."""
    node = provider.child("headers")
    if node is None:
        return EMPTY
    headers: dict[str, str] = {}
    for key, value in node.data.items():
        values = value if isinstance(value, list | tuple) else [value]
        if all(isinstance(v, str) for v in values):
            headers[str(key)] = ", ".join(values)
        else:
            node.wrong_type(str(key), "a string or a list of strings")
    return freeze(headers)  # type: ignore[no-any-return]
