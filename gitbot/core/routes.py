"""The desired Istio routes of a canary, as plain data, and the inverse reading of them.

Pure functions used by the manifest editor (`gitbot.adapters.manifests`, which merges the
result into the VirtualService file) and by the bootstrap generator. They follow Flagger's
`IstioRouter.SetRoutes`/`GetRoutes`: one weighted route for canary and blue/green, a matched
route plus a primary fallback for A/B testing, a sticky cookie route placed before the
weighted route for session affinity, and `mirror`/`mirrorPercentage` on the first route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gitbot.core.spec import Canary, SessionAffinity, thaw
from gitbot.core.state import Traffic

ISTIO_API_VERSION = "networking.istio.io/v1beta1"
STICKY_ROUTE_NAME = "sticky-route"
STICKY_PRIMARY_ROUTE_NAME = "sticky-route-primary"
COOKIE_HEADER = "Cookie"
SET_COOKIE_HEADER = "Set-Cookie"

Route = dict[str, Any]


def primary_host(canary: Canary) -> str:
    return f"{canary.service_name}-primary"


def canary_host(canary: Canary) -> str:
    return f"{canary.service_name}-canary"


def destination(host: str, weight: int, port: int | None = None) -> Route:
    """A route destination; the weight is always written, also 0."""
    target: dict[str, Any] = {"host": host}
    if port is not None:
        target["port"] = {"number": port}
    return {"destination": target, "weight": weight}


def destination_port(canary: Canary) -> int | None:
    """Flagger names the port when `portDiscovery` exposes several and the route is not the
    mesh's own (the first gateway is not `mesh`, or the VirtualService is a delegate)."""
    svc = canary.service
    if not svc.port_discovery:
        return None
    if svc.delegation or (svc.gateways and svc.gateways[0] != "mesh"):
        return svc.port
    return None


def base_route(canary: Canary, match: Sequence[Any] | None = None) -> Route:
    """A route carrying the `spec.service` fields that are set, in Flagger's order."""
    svc = canary.service
    route: Route = {}
    chosen = svc.match if match is None else match
    if chosen:
        route["match"] = thaw(tuple(chosen))
    fields = (
        ("rewrite", svc.rewrite),
        ("timeout", svc.timeout),
        ("retries", svc.retries),
        ("corsPolicy", svc.cors_policy),
        ("headers", svc.headers),
    )
    for key, value in fields:
        if value:
            route[key] = thaw(value)
    return route


def weighted_route(canary: Canary, traffic: Traffic, match: Sequence[Any] | None = None) -> Route:
    route = base_route(canary, match)
    port = destination_port(canary)
    route["route"] = [
        destination(primary_host(canary), traffic.primary_weight, port),
        destination(canary_host(canary), traffic.canary_weight, port),
    ]
    return route


def merge_match(canary_match: Sequence[Any], service_match: Sequence[Any]) -> list[Any]:
    """Flagger's `mergeMatchConditions`: each analysis condition times each service condition.

    Only `headers` and `sourceLabels` are taken from the analysis condition.
    """
    if not service_match:
        return [thaw(c) for c in canary_match]
    merged: list[Any] = []
    for cond in canary_match:
        for default in service_match:
            item = thaw(default)
            for key in ("headers", "sourceLabels"):
                if cond.get(key) is not None:
                    item[key] = thaw(cond[key])
            merged.append(item)
    return merged


def build_cookie(affinity: SessionAffinity, cookie: str) -> str:
    """The `Set-Cookie` value for `name=value` with the affinity's attributes."""
    parts = [cookie, f"Max-Age={affinity.max_age}"]
    if affinity.domain:
        parts.append(f"Domain={affinity.domain}")
    if affinity.http_only:
        parts.append("HttpOnly")
    if affinity.partitioned:
        parts.append("Partitioned")
    if affinity.path:
        parts.append(f"Path={affinity.path}")
    if affinity.same_site:
        parts.append(f"SameSite={affinity.same_site}")
    if affinity.secure:
        parts.append("Secure")
    return "; ".join(parts)


def cookie_match(cookie: str) -> dict[str, Any]:
    name, _, value = cookie.partition("=")
    return {"headers": {COOKIE_HEADER: {"regex": f".*{name}.*{value}.*"}}}


def _set_cookie_header(value: str) -> dict[str, Any]:
    return {"response": {"add": {SET_COOKIE_HEADER: value}}}


def _sticky_routes(canary: Canary, traffic: Traffic, affinity: SessionAffinity) -> list[Route]:
    weighted = weighted_route(canary, traffic)
    sticky = {"name": STICKY_ROUTE_NAME, **weighted_route(canary, traffic)}
    svc_match = canary.service.match
    routes = [sticky]
    if traffic.canary_weight != 0 and traffic.session_cookie:
        weighted["route"][1]["headers"] = _set_cookie_header(
            build_cookie(affinity, traffic.session_cookie))
        sticky["match"] = merge_match([cookie_match(traffic.session_cookie)], svc_match)
        sticky["route"] = weighted_route(canary, Traffic(0, 100))["route"]
        if traffic.primary_cookie:
            # Users the primary served keep it for one analysis interval, then roll again.
            interval = replace(affinity, max_age=max(1, canary.analysis.interval_seconds))
            weighted["route"][0]["headers"] = _set_cookie_header(
                build_cookie(interval, traffic.primary_cookie))
            pinned = {"name": STICKY_PRIMARY_ROUTE_NAME, **weighted_route(canary, Traffic())}
            pinned["match"] = merge_match([cookie_match(traffic.primary_cookie)], svc_match)
            routes.append(pinned)
    elif traffic.canary_weight == 0 and traffic.previous_cookie:
        sticky["match"] = merge_match([cookie_match(traffic.previous_cookie)], svc_match)
        headers = sticky.setdefault("headers", {})
        add = headers.setdefault("response", {}).setdefault("add", {})
        add[SET_COOKIE_HEADER] = f"{traffic.previous_cookie}; Max-Age=-1"
    return [*(_ordered(r) for r in routes), weighted]


def _ordered(route: Route) -> Route:
    order = ("name", "match", "rewrite", "timeout", "retries", "corsPolicy", "headers", "route")
    return {k: route[k] for k in (*order, *route) if k in route}


def _ab_routes(canary: Canary, traffic: Traffic) -> list[Route]:
    matched = weighted_route(
        canary, traffic, merge_match(canary.analysis.match, canary.service.match)
    )
    fallback = base_route(canary)
    fallback["route"] = [
        destination(primary_host(canary), traffic.primary_weight, destination_port(canary))]
    return [matched, fallback]


def http_routes(canary: Canary, traffic: Traffic) -> list[Route]:
    """The managed `spec.http` routes of VirtualService `<svc>` for these weights."""
    analysis = canary.analysis
    if analysis.match:
        return _ab_routes(canary, traffic)
    if analysis.session_affinity is not None:
        routes = _sticky_routes(canary, traffic, analysis.session_affinity)
    else:
        routes = [weighted_route(canary, traffic)]
    if traffic.mirror:
        routes[0]["mirror"] = {"host": canary_host(canary)}
        if analysis.mirror_weight:
            routes[0]["mirrorPercentage"] = {"value": analysis.mirror_weight}
    return routes


def vs_hosts(canary: Canary) -> list[str]:
    if canary.service.delegation:
        return []
    hosts = list(canary.service.hosts)
    if canary.service_name not in hosts and "*" not in hosts:
        hosts.append(canary.service_name)
    return hosts


def object_metadata(name: str, namespace: str, labels: Mapping[str, str],
                    annotations: Mapping[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def virtual_service(canary: Canary, traffic: Traffic) -> dict[str, Any]:
    """The whole VirtualService `<svc>` gitbot generates (Istio `networking.istio.io/v1beta1`)."""
    apex = canary.service.apex
    spec: dict[str, Any] = {}
    if not canary.service.delegation:  # a delegate takes both from the root VirtualService
        spec["hosts"] = vs_hosts(canary)
        spec["gateways"] = list(canary.service.gateways) or ["mesh"]
    spec["http"] = http_routes(canary, traffic)
    return {
        "apiVersion": ISTIO_API_VERSION,
        "kind": "VirtualService",
        "metadata": object_metadata(
            canary.service_name, canary.namespace, apex.labels, apex.annotations
        ),
        "spec": spec,
    }


def destination_rule(canary: Canary, name: str) -> dict[str, Any]:
    """DestinationRule `<svc>-primary` or `<svc>-canary`: host = own name, the traffic policy."""
    spec: dict[str, Any] = {"host": name}
    if canary.service.traffic_policy:
        spec["trafficPolicy"] = thaw(canary.service.traffic_policy)
    return {
        "apiVersion": ISTIO_API_VERSION,
        "kind": "DestinationRule",
        "metadata": object_metadata(name, canary.namespace, {}, {}),
        "spec": spec,
    }


def _hosts_of(route: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found = []
    for dest in route.get("route") or ():
        if isinstance(dest, Mapping) and isinstance(dest.get("destination"), Mapping):
            found.append((str(dest["destination"].get("host", "")), dest))
    return found


def is_managed_route(canary: Canary, route: Any) -> bool:
    """A route gitbot manages: one of its destinations is `<svc>-primary` or `<svc>-canary`."""
    if not isinstance(route, Mapping):
        return False
    hosts = {primary_host(canary), canary_host(canary)}
    return any(host in hosts for host, _ in _hosts_of(route))


def read_traffic(canary: Canary, http: Sequence[Any]) -> Traffic | None:
    """The Traffic the routes declare (Flagger's `GetRoutes`); None without a managed route."""
    managed = [r for r in http if is_managed_route(canary, r)]
    if not managed:
        return None
    chosen = _weighted_of(canary, managed)
    weights = {host: int(dest.get("weight") or 0) for host, dest in _hosts_of(chosen)}
    mirror = any(
        isinstance(r.get("mirror"), Mapping) and r["mirror"].get("host") for r in managed
    )
    return Traffic(
        primary_weight=weights.get(primary_host(canary), 0),
        canary_weight=weights.get(canary_host(canary), 0),
        mirror=bool(mirror),
        session_cookie=_session_cookie(canary, chosen, canary_host(canary)),
        previous_cookie=_previous_cookie(managed),
        primary_cookie=_session_cookie(canary, chosen, primary_host(canary)),
    )


def _weighted_of(canary: Canary, managed: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    with_canary = [r for r in managed if canary_host(canary) in dict(_hosts_of(r))]
    if not with_canary:
        return managed[-1]
    sticky = (STICKY_ROUTE_NAME, STICKY_PRIMARY_ROUTE_NAME)
    unnamed = [r for r in with_canary if r.get("name") not in sticky]
    if canary.analysis.session_affinity is not None and unnamed:
        return unnamed[-1]
    if canary.analysis.match:
        return with_canary[0]
    return with_canary[-1]


def _session_cookie(canary: Canary, route: Mapping[str, Any], wanted: str) -> str:
    """The `name=value` a destination of the weighted route sets (canary or primary cookie)."""
    if canary.analysis.session_affinity is None:
        return ""
    for host, dest in _hosts_of(route):
        if host == wanted:
            value = _set_cookie(dest)
            if value:
                return value.split(";", 1)[0].strip()
    return ""


def _previous_cookie(managed: list[Mapping[str, Any]]) -> str:
    for route in managed:
        value = _set_cookie(route)
        if value and "Max-Age=-1" in value:
            return value.split(";", 1)[0].strip()
    return ""


def _set_cookie(holder: Mapping[str, Any]) -> str:
    headers = holder.get("headers")
    if not isinstance(headers, Mapping):
        return ""
    response = headers.get("response")
    add = response.get("add") if isinstance(response, Mapping) else None
    return str(add.get(SET_COOKIE_HEADER, "")) if isinstance(add, Mapping) else ""
