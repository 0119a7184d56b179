"""Build `Analysis` (and its metrics, webhooks, alerts, session affinity) from `spec.analysis`.

Called by `gitbot.core.parse_canary`. Applies Flagger's defaults (canary.go, scheduler.go) and
reports every problem through the `Node` it is given.
"""

from __future__ import annotations

from gitbot.core.durations import analysis_interval_seconds, parse_duration
from gitbot.core.parse_fields import Node
from gitbot.core.parse_names import LABEL, SUBDOMAIN
from gitbot.core.spec import (
    Alert,
    Analysis,
    Metric,
    ObjectRef,
    SessionAffinity,
    Severity,
    ThresholdRange,
    Webhook,
    WebhookType,
)

ANALYSIS_FIELDS = frozenset({
    "interval", "threshold", "maxWeight", "stepWeight", "stepWeights", "stepWeightPromotion",
    "iterations", "match", "mirror", "mirrorWeight", "sessionAffinity", "primaryReadyThreshold",
    "canaryReadyThreshold", "metrics", "webhooks", "alerts",
})
METRIC_FIELDS = frozenset({
    "name", "interval", "threshold", "thresholdRange", "query", "templateRef",
    "templateVariables",
})
WEBHOOK_FIELDS = frozenset({
    "name", "type", "url", "timeout", "retries", "metadata", "muteAlert", "disableTLS",
})
ALERT_FIELDS = frozenset({"name", "severity", "providerRef"})
REF_FIELDS = frozenset({"name", "namespace"})
AFFINITY_FIELDS = frozenset({
    "cookieName", "primaryCookieName", "maxAge", "domain", "httpOnly", "partitioned", "path",
    "sameSite", "secure",
})
BUILTIN_METRICS = frozenset({"request-success-rate", "request-duration"})
SAME_SITE = ("Strict", "Lax", "None")
DURATION_HINT = "must be a duration such as 30s, 1m or 1h"


def parse_analysis(node: Node, namespace: str, skip_analysis: bool) -> Analysis:
    """`spec.analysis` with Flagger's defaults; reports problems on `node.report`."""
    node.check_keys(ANALYSIS_FIELDS)
    step_weights = _step_weights(node)
    step_weight = node.integer("stepWeight", 0, 1, 100)
    iterations = node.integer("iterations", 0, 0)
    _check_progression(node, skip_analysis)
    return Analysis(
        interval_seconds=_interval(node),
        threshold=_threshold(node),
        max_weight=_max_weight(node, step_weights),
        step_weight=step_weight,
        step_weights=step_weights,
        step_weight_promotion=node.integer("stepWeightPromotion", 0, 0, 100),
        iterations=iterations,
        match=node.free("match", list) or (),
        mirror=node.boolean("mirror"),
        mirror_weight=_mirror_weight(node),
        session_affinity=_session_affinity(node),
        primary_ready_threshold=node.integer("primaryReadyThreshold", 100, 0, 100),
        canary_ready_threshold=node.integer("canaryReadyThreshold", 100, 0, 100),
        metrics=tuple(_metric(m, namespace) for m in node.mappings("metrics")),
        webhooks=tuple(_webhook(w) for w in node.mappings("webhooks")),
        alerts=tuple(a for a in (_alert(n, namespace) for n in node.mappings("alerts")) if a),
    )


def _interval(node: Node) -> int:
    raw = node.string("interval")
    if raw and parse_duration(raw) is None:
        node.fail("interval", DURATION_HINT)
    return analysis_interval_seconds(raw)


def _threshold(node: Node) -> int:
    """Flagger's `GetAnalysisThreshold`: 1 when absent or not positive."""
    threshold = node.integer("threshold", 1)
    return threshold if threshold > 0 else 1


def _mirror_weight(node: Node) -> int | None:
    if not node.has("mirrorWeight"):
        return None
    weight = node.integer("mirrorWeight", -1, 0, 100)
    return weight if weight >= 0 else None


def _check_progression(node: Node, skip_analysis: bool) -> None:
    given = [k for k in ("stepWeight", "stepWeights", "iterations") if node.has(k)]
    if not given and not skip_analysis:
        node.report.add(node.at, "needs one of stepWeight, stepWeights or iterations, "
                        "otherwise the canary can never progress")
    if "iterations" in given and len(given) > 1:
        node.fail("iterations", "cannot be combined with stepWeight or stepWeights "
                  "(iterations selects blue/green or A/B testing)")


def _step_weights(node: Node) -> tuple[int, ...]:
    weights: list[int] = []
    for at, item in node.items("stepWeights"):
        if isinstance(item, bool) or not isinstance(item, int):
            node.report.add(at, f"must be an integer, got {item!r}")
        elif not 1 <= item <= 100:
            node.report.add(at, "must be between 1 and 100")
        elif weights and item <= weights[-1]:
            node.report.add(at, f"must be greater than the previous step {weights[-1]}")
        else:
            weights.append(item)
    return tuple(weights)


def _max_weight(node: Node, step_weights: tuple[int, ...]) -> int:
    configured = node.integer("maxWeight", 100, 1, 100)
    if step_weights:
        return min(100, step_weights[-1])
    return configured


def _session_affinity(parent: Node) -> SessionAffinity | None:
    node = parent.child("sessionAffinity")
    if node is None:
        return None
    node.check_keys(AFFINITY_FIELDS)
    cookie = node.string("cookieName", required=True)
    primary_cookie = node.string("primaryCookieName")
    if cookie and cookie == primary_cookie:
        node.fail("primaryCookieName", f"must differ from cookieName {cookie!r}")
    same_site = node.string("sameSite")
    if same_site and same_site not in SAME_SITE:
        node.fail("sameSite", "must be one of Strict, Lax, None")
    max_age = node.integer("maxAge", 86400)
    return SessionAffinity(
        cookie_name=cookie,
        primary_cookie_name=primary_cookie,
        max_age=max_age if max_age > 0 else 86400,
        domain=node.string("domain"),
        http_only=node.boolean("httpOnly"),
        partitioned=node.boolean("partitioned"),
        path=node.string("path"),
        same_site=same_site,
        secure=node.boolean("secure"),
    )


def _metric(node: Node, namespace: str) -> Metric:
    node.check_keys(METRIC_FIELDS)
    name = node.string("name", required=True)
    interval = node.string("interval", "1m")
    if parse_duration(interval) is None:
        node.fail("interval", DURATION_HINT)
    ref = _ref(node, "templateRef", namespace)
    query = node.string("query")
    if name and name not in BUILTIN_METRICS and ref is None and not query:
        node.fail("name", f"custom metric {name!r} needs a templateRef or a query")
    return Metric(
        name=name,
        interval=interval,
        threshold_range=_threshold_range(node),
        template_ref=ref,
        template_variables=node.string_map("templateVariables"),
        query=query,
        threshold=node.number("threshold"),
    )


def _threshold_range(parent: Node) -> ThresholdRange:
    node = parent.child("thresholdRange")
    if node is None:
        return ThresholdRange()
    node.check_keys(frozenset({"min", "max"}))
    low, high = node.number("min"), node.number("max")
    if low is not None and high is not None and low > high:
        node.fail("min", f"must not be greater than max ({_num(low)} > {_num(high)})")
    return ThresholdRange(min=low, max=high)


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _ref(parent: Node, key: str, namespace: str) -> ObjectRef | None:
    node = parent.child(key)
    if node is None:
        return None
    node.check_keys(REF_FIELDS)
    name = node.name("name", SUBDOMAIN, required=True)
    return ObjectRef(name=name, namespace=node.name("namespace", LABEL, namespace))


def _webhook(node: Node) -> Webhook:
    node.check_keys(WEBHOOK_FIELDS)
    kind = node.string("type") or WebhookType.ROLLOUT.value
    known = {t.value: t for t in WebhookType}
    if kind not in known:
        node.fail("type", f"unknown webhook type {kind!r}, expected one of {', '.join(known)}")
    return Webhook(
        name=node.string("name", required=True),
        url=node.string("url", required=True),
        type=known.get(kind, WebhookType.ROLLOUT),
        timeout_seconds=float(_timeout(node)),
        retries=node.integer("retries", 0, 0),
        metadata=node.string_map("metadata"),
        mute_alert=node.boolean("muteAlert"),
        disable_tls=node.boolean("disableTLS"),
    )


def _timeout(node: Node) -> int:
    raw = node.string("timeout")
    if len(raw) < 2:
        return 10
    seconds = parse_duration(raw)
    if seconds is None:
        node.fail("timeout", DURATION_HINT)
        return 10
    return seconds


def _alert(node: Node, namespace: str) -> Alert | None:
    node.check_keys(ALERT_FIELDS)
    name = node.string("name", required=True)
    severity = node.string("severity")
    known = {s.value: s for s in Severity}
    if severity and severity not in known:
        node.fail("severity", f"must be one of info, warn, error, got {severity!r}")
    ref = _ref(node, "providerRef", namespace)
    if ref is None:
        node.fail("providerRef", "is required")
        return None
    return Alert(name=name, provider_ref=ref, severity=known.get(severity))
