"""The Kubernetes and Istio objects the simulated cluster understands, parsed from manifests.

``gitbot.sim.flux`` turns each YAML document into one of these frozen values (Deployment, Service,
VirtualService) or ``None`` for kinds the simulation ignores; ``gitbot.sim.mesh`` routes traffic
with them. A document that is not a Kubernetes object, or a known kind with a malformed spec, raises
``ManifestError`` so Flux refuses the whole revision, as the real one does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_NAMESPACE = "default"


class ManifestError(ValueError):
    """A manifest cannot be applied."""


@dataclass(frozen=True)
class Deployment:
    """The parts of a Deployment that matter to traffic and readiness."""

    namespace: str
    name: str
    replicas: int
    labels: tuple[tuple[str, str], ...]
    images: tuple[str, ...]

    @property
    def template(self) -> tuple[object, ...]:
        """What a rollout compares: a change here replaces the pods."""
        return (self.labels, self.images)


@dataclass(frozen=True)
class Service:
    """A ClusterIP Service: its selector picks the Deployment that serves it."""

    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StringMatch:
    """An Istio StringMatch: kind is ``exact``, ``prefix``, ``suffix`` or ``regex``."""

    kind: str
    value: str

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` (None when the header is absent) satisfies this matcher."""
        if text is None:
            return False
        if self.kind == "exact":
            return text == self.value
        if self.kind == "prefix":
            return text.startswith(self.value)
        if self.kind == "suffix":
            return text.endswith(self.value)
        return re.fullmatch(self.value, text) is not None


@dataclass(frozen=True)
class MatchCondition:
    """One entry of an http route's ``match`` list; all of its parts must hold."""

    headers: tuple[tuple[str, StringMatch], ...] = ()
    uri: StringMatch | None = None

    def matches(self, headers: Mapping[str, str], path: str = "/") -> bool:
        """Header names compare case-insensitively; ``headers`` keys are lowercase."""
        if self.uri is not None and not self.uri.matches(path):
            return False
        return all(m.matches(headers.get(name)) for name, m in self.headers)


@dataclass(frozen=True)
class RouteDestination:
    """A weighted destination host, with the Set-Cookie it adds to responses, if any."""

    host: str
    weight: int | None
    set_cookie: str | None = None


@dataclass(frozen=True)
class HttpRoute:
    """One http route of a VirtualService."""

    match: tuple[MatchCondition, ...]
    destinations: tuple[RouteDestination, ...]
    mirror: str | None = None
    mirror_percent: float = 100.0

    def applies_to(self, headers: Mapping[str, str], path: str = "/") -> bool:
        """An empty match list matches every request; otherwise any condition must hold."""
        return not self.match or any(c.matches(headers, path) for c in self.match)


@dataclass(frozen=True)
class VirtualService:
    """An Istio VirtualService with http routes."""

    namespace: str
    name: str
    hosts: tuple[str, ...]
    http: tuple[HttpRoute, ...]


@dataclass(frozen=True)
class HelmReleaseStatus:
    """A HelmRelease the simulated helm-controller installed (exported as gotk_resource_info)."""

    namespace: str
    name: str
    revision: str  # the chart version (range) the release asks for, as Flux's series label it


KubeObject = Deployment | Service | VirtualService | HelmReleaseStatus


def parse_object(doc: object, default_namespace: str | None = None) -> KubeObject | None:
    """One manifest document as a simulated object, or None for a kind the sim ignores."""
    if not isinstance(doc, Mapping):
        raise ManifestError("document is not a mapping")
    kind, meta = doc.get("kind"), doc.get("metadata")
    if not doc.get("apiVersion") or not isinstance(kind, str) or not isinstance(meta, Mapping):
        raise ManifestError("document lacks apiVersion, kind or metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{kind} without metadata.name")
    namespace = str(meta.get("namespace") or default_namespace or DEFAULT_NAMESPACE)
    spec = doc.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise ManifestError(f"{kind} {namespace}/{name}: spec is not a mapping")
    try:
        return _parse_kind(kind, namespace, name, spec)
    except (TypeError, ValueError, AttributeError, KeyError, re.error) as err:
        raise ManifestError(f"{kind} {namespace}/{name}: {err}") from err


def _parse_kind(kind: str, namespace: str, name: str, spec: Mapping[str, Any]) -> KubeObject | None:
    if kind == "Deployment":
        return _deployment(namespace, name, spec)
    if kind == "Service":
        return Service(namespace, name, _pairs(spec.get("selector")))
    if kind == "HelmReleaseStatus":
        return HelmReleaseStatus(namespace, name, str(spec.get("revision") or ""))
    if kind == "VirtualService":
        hosts = tuple(str(h) for h in spec.get("hosts") or ())
        http = tuple(_http_route(r) for r in spec.get("http") or ())
        return VirtualService(namespace, name, hosts, http)
    return None


def _deployment(namespace: str, name: str, spec: Mapping[str, Any]) -> Deployment:
    template = spec.get("template") or {}
    labels = _pairs((template.get("metadata") or {}).get("labels"))
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        raise ManifestError("pod template has no containers")
    images = tuple(str(c["image"]) for c in containers)
    replicas = int(spec.get("replicas", 1))
    if replicas < 0:
        raise ManifestError("replicas must not be negative")
    return Deployment(namespace, name, replicas, labels, images)


def _pairs(mapping: object) -> tuple[tuple[str, str], ...]:
    if mapping is None:
        return ()
    if not isinstance(mapping, Mapping):
        raise ManifestError("labels/selector must be a mapping")
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


def _http_route(raw: Mapping[str, Any]) -> HttpRoute:
    match = tuple(_condition(m) for m in raw.get("match") or ())
    destinations = tuple(_destination(d) for d in raw.get("route") or ())
    if not destinations:
        raise ManifestError("http route without destinations")
    mirror_raw = raw.get("mirror")
    mirror = str(mirror_raw["host"]) if mirror_raw else None
    percent = float((raw.get("mirrorPercentage") or {}).get("value", 100.0))
    return HttpRoute(match, destinations, mirror, percent)


def _condition(raw: Mapping[str, Any]) -> MatchCondition:
    headers = tuple(
        sorted((str(k).lower(), _string_match(v)) for k, v in (raw.get("headers") or {}).items())
    )
    uri = _string_match(raw["uri"]) if raw.get("uri") else None
    return MatchCondition(headers, uri)


def _string_match(raw: Mapping[str, Any]) -> StringMatch:
    for kind in ("exact", "prefix", "suffix", "regex"):
        if kind in raw:
            value = str(raw[kind])
            if kind == "regex":
                re.compile(value)
            return StringMatch(kind, value)
    raise ManifestError(f"unsupported string match {dict(raw)!r}")


def _destination(raw: Mapping[str, Any]) -> RouteDestination:
    host = str(raw["destination"]["host"])
    weight = raw.get("weight")
    add = ((raw.get("headers") or {}).get("response") or {}).get("add") or {}
    cookie = next((str(v) for k, v in add.items() if str(k).lower() == "set-cookie"), None)
    return RouteDestination(host, None if weight is None else int(weight), cookie)
