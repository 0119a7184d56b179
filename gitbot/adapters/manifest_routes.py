"""Merging gitbot's managed routes into a VirtualService's `spec.http`, keeping every other
route and, in a team's own (adopted) VirtualService, each route's own fields and policy.

Called by `gitbot.adapters.manifests.ManifestEditor.set_traffic` (and so by every editor);
`TRAFFIC_KEYS` also by `gitbot.adapters.flux_routing`. The desired routes come from the pure
`gitbot.core.routes.http_routes`; every edit is minimal (`manifest_merge`) and recorded in
`changes`.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitbot.adapters.manifest_merge import Changes, merge_mapping, plain, to_node
from gitbot.core.spec import Canary

TRAFFIC_KEYS = frozenset({"route", "mirror", "mirrorPercentage"})


def service_hosts(canary: Canary) -> set[str]:
    svc, ns = canary.service_name, canary.namespace
    return {svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local",
            f"{svc}-primary", f"{svc}-canary"}


def carries_service(canary: Canary, route: Any) -> bool:
    """A route whose destinations point at the service (apex, FQDN, primary or canary)."""
    if not isinstance(route, dict):
        return False
    hosts = service_hosts(canary)
    return any(isinstance(d, dict) and isinstance(d.get("destination"), dict)
               and d["destination"].get("host") in hosts for d in route.get("route") or ())


def apply_routes(canary: Canary, vs: CommentedMap, desired: list[dict[str, Any]],
                 adopted: bool, changes: Changes) -> None:
    """Merge the desired managed routes into `spec.http`, keeping every other route.

    A generated VirtualService gets exactly the desired routes. In an adopted one, each route
    that carries the service keeps its own fields (match, fault, ...) except the destinations
    and mirror, and one desired route is applied to every such route.
    """
    spec = vs.setdefault("spec", CommentedMap())
    http = spec.setdefault("http", CommentedSeq())
    slots = [i for i, r in enumerate(http) if carries_service(canary, r)]
    if adopted and len(desired) == 1 and slots:
        for i in slots:
            _merge_route(http[i], desired[0], f"spec.http[{i}]", True, changes)
        return
    for i, want in zip(slots, desired, strict=False):
        _merge_route(http[i], want, f"spec.http[{i}]", adopted, changes)
    for i in reversed(slots[len(desired):]):
        changes.append((f"spec.http[{i}]", plain(http[i]), None))
        del http[i]
    at = slots[-1] + 1 if slots else 0
    policy = route_policy(http[slots[0]]) if adopted and slots else {}
    for offset, want in enumerate(desired[len(slots):]):
        want = {**want, **{k: v for k, v in policy.items() if k not in want}}
        http.insert(at + offset, to_node(want))
        changes.append((f"spec.http[{at + offset}]", None, want))


ROUTE_POLICY_KEYS = ("timeout", "retries", "headers", "corsPolicy")


def route_policy(route: Any) -> dict[str, Any]:
    """The route-level settings of a team's route that a route gitbot adds must copy, so that
    traffic it carries keeps the team's policy (retries, timeout, headers, corsPolicy)."""
    return {k: plain(route[k]) for k in ROUTE_POLICY_KEYS if isinstance(route, dict) and k in route}


def _merge_route(node: Any, want: dict[str, Any], path: str, adopted: bool,
                 changes: Changes) -> None:
    keep = frozenset(k for k in node if k not in TRAFFIC_KEYS) if adopted else frozenset()
    if adopted:
        want = with_destination_port(want, destination_port(node))
    merge_mapping(node, want, path, changes, keep=keep)


def destination_port(route: Any) -> Any:
    """The `destination.port` the team wrote on a route of its own VirtualService, if any.

    A service with several ports needs it (Istio rejects an ambiguous destination), so an
    adopted route keeps it on the primary and canary destinations that replace the original.
    """
    for dest in route.get("route") or ():
        if isinstance(dest, dict) and isinstance(dest.get("destination"), dict):
            port = dest["destination"].get("port")
            if port is not None:
                return plain(port)
    return None


def with_destination_port(want: dict[str, Any], port: Any) -> dict[str, Any]:
    if port is None or not want.get("route"):
        return want
    routes = []
    for dest in want["route"]:
        target = dict(dest["destination"])
        target.setdefault("port", port)
        routes.append({**dest, "destination": target})
    return {**want, "route": routes}
