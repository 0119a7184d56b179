"""Applied objects of the simulated cluster and the rollout state of its Deployments.

``gitbot.sim.cluster`` feeds every revision Flux applies into ``ClusterObjects.apply``; the mesh
thread asks it for a ``Topology`` (who serves which host right now) and the exporter for
``DeploymentSnapshot`` values (the kube-state-metrics view). After a change of a Deployment's pod
template or replicas its new pods become available once the image's ``ready_after`` has passed;
until then the old pods (if any) keep serving with the old images, as a rolling update does.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitbot.sim.objects import Deployment, KubeObject, Service, VirtualService
from gitbot.sim.scenario import Behaviour, Scenario

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class DeploymentSnapshot:
    """A Deployment as kube-state-metrics sees it."""

    namespace: str
    name: str
    replicas: int
    available: int
    updated: int
    images: tuple[str, ...]

    @property
    def image(self) -> str:
        """The first container's image in the spec."""
        return self.images[0] if self.images else ""


@dataclass(frozen=True)
class Workload:
    """The Deployment that answers for a Service right now, and how it behaves."""

    namespace: str
    name: str
    behaviour: Behaviour


@dataclass(frozen=True)
class Topology:
    """What the mesh needs for one tick."""

    virtual_services: tuple[VirtualService, ...]
    direct_services: tuple[Service, ...]
    services: frozenset[Key]
    backends: Mapping[Key, Workload]

    def backend(self, host: str, namespace: str) -> tuple[Key, Workload | None]:
        """The Service a host names and the workload serving it (None when nothing is ready)."""
        key = resolve_host(host, namespace)
        return key, self.backends.get(key)


def resolve_host(host: str, namespace: str) -> Key:
    """``svc``, ``svc.ns`` or ``svc.ns.svc.cluster.local`` as (namespace, name)."""
    parts = host.split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    return parts[1], parts[0]


class _Rollout:
    """Mutable rollout state of one Deployment."""

    def __init__(self, spec: Deployment) -> None:
        self.spec = spec
        self.available = 0
        self.updated = 0
        self.serving: tuple[str, ...] = spec.images
        self.ready_at: float | None = None

    def change(self, spec: Deployment, now: float, ready_after: float) -> None:
        old, self.spec = self.spec, spec
        if spec.template != old.template:
            self.updated = 0
        self.available = min(self.available, spec.replicas)
        self.updated = min(self.updated, spec.replicas)
        if spec.replicas == 0:
            self.serving, self.ready_at = spec.images, None
        elif self.updated < spec.replicas or self.available < spec.replicas:
            self.ready_at = now + ready_after
        else:
            self.ready_at = None

    def advance(self, now: float) -> None:
        if self.ready_at is not None and now >= self.ready_at:
            self.available = self.updated = self.spec.replicas
            self.serving, self.ready_at = self.spec.images, None

    def snapshot(self) -> DeploymentSnapshot:
        s = self.spec
        return DeploymentSnapshot(
            s.namespace, s.name, s.replicas, self.available, self.updated, s.images
        )


class ClusterObjects:
    """The applied object set; thread-safe."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._lock = threading.Lock()
        self._rollouts: dict[Key, _Rollout] = {}
        self._services: dict[Key, Service] = {}
        self._virtual_services: dict[Key, VirtualService] = {}

    def apply(self, objects: Sequence[KubeObject], now: float) -> None:
        """Make the object set equal to ``objects`` (creating, changing and pruning)."""
        deployments = {(o.namespace, o.name): o for o in objects if isinstance(o, Deployment)}
        with self._lock:
            self._services = {(o.namespace, o.name): o for o in objects if isinstance(o, Service)}
            self._virtual_services = {
                (o.namespace, o.name): o for o in objects if isinstance(o, VirtualService)
            }
            for key in set(self._rollouts) - set(deployments):
                del self._rollouts[key]
            for key, spec in deployments.items():
                self._apply_deployment(key, spec, now)

    def _apply_deployment(self, key: Key, spec: Deployment, now: float) -> None:
        rollout = self._rollouts.get(key)
        if rollout is None:
            rollout = self._rollouts[key] = _Rollout(spec)
            rollout.change(spec, now, self._ready_after(spec))
        elif rollout.spec != spec:
            rollout.advance(now)
            rollout.change(spec, now, self._ready_after(spec))

    def _ready_after(self, spec: Deployment) -> float:
        return self._scenario.for_image(spec.images[0]).ready_after

    def deployments(self, now: float) -> list[DeploymentSnapshot]:
        """Every Deployment, sorted by namespace and name."""
        with self._lock:
            for rollout in self._rollouts.values():
                rollout.advance(now)
            return [self._rollouts[k].snapshot() for k in sorted(self._rollouts)]

    def topology(self, now: float) -> Topology:
        """Routing view for the mesh at ``now``."""
        with self._lock:
            for rollout in self._rollouts.values():
                rollout.advance(now)
            backends = {key: w for key, svc in self._services.items() if (w := self._serving(svc))}
            vss = tuple(self._virtual_services[k] for k in sorted(self._virtual_services))
            fronted = _fronted_services(vss)
            direct = tuple(self._services[k] for k in sorted(self._services) if k not in fronted)
            return Topology(vss, direct, frozenset(self._services), backends)

    def _serving(self, service: Service) -> Workload | None:
        if not service.selector:
            return None
        wanted = set(service.selector)
        for key in sorted(self._rollouts):
            rollout = self._rollouts[key]
            if key[0] != service.namespace or not wanted <= set(rollout.spec.labels):
                continue
            if rollout.available > 0 and rollout.serving:
                behaviour = self._scenario.for_image(rollout.serving[0])
                return Workload(key[0], key[1], behaviour)
        return None


def _fronted_services(virtual_services: Sequence[VirtualService]) -> set[Key]:
    """Services a VirtualService fronts or routes to: clients do not call them directly."""
    keys: set[Key] = set()
    for vs in virtual_services:
        keys.update(resolve_host(h, vs.namespace) for h in (*vs.hosts, vs.name))
        for route in vs.http:
            keys.update(resolve_host(d.host, vs.namespace) for d in route.destinations)
            if route.mirror:
                keys.add(resolve_host(route.mirror, vs.namespace))
    return keys
