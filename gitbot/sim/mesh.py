"""Simulated Istio mesh: generates client traffic and routes it through VirtualServices.

``gitbot.sim.cluster`` calls ``Mesh.tick(topology, dt, now)`` from its traffic thread. Each tick
sends ``request_rate * dt`` requests (fractions carry over) to every VirtualService and to every
Service no VirtualService fronts, plus ``loadtest_rate * dt`` straight to ``<vs>-canary``. Requests
come from a fixed population of simulated users with cookie jars; an ``ab_share`` of them carry the
A/B header ``x-canary: insider`` and cookie ``canary=always``. Weighted splits, errors and mirroring
use deterministic fractional accounting; only latencies come from a seeded RNG. Results go to
``gitbot.sim.exporter.Telemetry`` with Istio's labels.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

from gitbot.sim.exporter import Request, Telemetry
from gitbot.sim.objects import HttpRoute, RouteDestination, VirtualService
from gitbot.sim.workloads import Key, Topology, resolve_host

AB_HEADER = ("x-canary", "insider")
AB_COOKIE = ("canary", "always")
CLIENT_WORKLOAD = "loadgenerator"
LOADTEST_WORKLOAD = "flagger-loadtester"


@dataclass
class User:
    """A simulated client: whether it is an A/B insider, and its cookies per host."""

    insider: bool
    jars: dict[str, dict[str, tuple[str, float]]] = field(default_factory=dict)

    def headers(self, host: str, now: float) -> dict[str, str]:
        """Request headers (lowercase names) this user sends to ``host`` at ``now``.

        The A/B cookie comes first: Flagger's example regex ``^(.*?;)?(canary=always)(;.*)?$`` is
        a full match, so it only matches the cookie at the start (no space before it).
        """
        jar = self.jars.get(host, {})
        cookies = ["=".join(AB_COOKIE)] if self.insider else []
        cookies += [f"{k}={v}" for k, (v, expires) in sorted(jar.items()) if expires > now]
        headers: dict[str, str] = {}
        if self.insider:
            headers[AB_HEADER[0]] = AB_HEADER[1]
        if cookies:
            headers["cookie"] = "; ".join(cookies)
        return headers

    def store_cookie(self, host: str, set_cookie: str, now: float) -> None:
        """Apply one Set-Cookie response header to the jar for ``host``."""
        parts = [p.strip() for p in set_cookie.split(";")]
        name, _, value = parts[0].partition("=")
        max_age = math.inf
        for attr in parts[1:]:
            key, _, val = attr.partition("=")
            if key.lower() == "max-age" and val.lstrip("-").isdigit():
                max_age = float(val)
        jar = self.jars.setdefault(host, {})
        if max_age <= 0:
            jar.pop(name, None)
        else:
            jar[name] = (value, now + max_age)


def make_users(count: int, ab_share: float) -> list[User]:
    """``count`` users, the insiders spread evenly among them (Bresenham style)."""
    return [
        User(insider=math.floor((i + 1) * ab_share) > math.floor(i * ab_share))
        for i in range(count)
    ]


class Mesh:
    """The traffic generator and router; call ``tick`` from one thread only."""

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        request_rate: float = 20.0,
        ab_share: float = 0.1,
        loadtest_rate: float = 0.0,
        users: int = 100,
        seed: int = 0,
    ) -> None:
        self.telemetry = telemetry
        self.request_rate, self.loadtest_rate = request_rate, loadtest_rate
        self._users = make_users(users, ab_share)
        self._rng = random.Random(seed)
        self._owed: dict[object, float] = defaultdict(float)
        self._cursor: dict[object, int] = defaultdict(int)
        self._split: dict[object, float] = defaultdict(float)
        self._now = 0.0

    def tick(self, topology: Topology, dt: float, now: float) -> None:
        """Send and route the requests due in the last ``dt`` seconds."""
        self._now = now
        for vs in topology.virtual_services:
            for _ in range(self._due(("vs", vs.namespace, vs.name), self.request_rate, dt)):
                self._client_request(topology, vs)
            self._loadtest(topology, vs, dt)
        for svc in topology.direct_services:
            for _ in range(self._due(("svc", svc.namespace, svc.name), self.request_rate, dt)):
                self._deliver(topology, svc.name, svc.namespace, CLIENT_WORKLOAD)

    def _due(self, key: object, rate: float, dt: float) -> int:
        self._owed[key] += rate * dt
        count = int(self._owed[key])
        self._owed[key] -= count
        return count

    def _loadtest(self, topology: Topology, vs: VirtualService, dt: float) -> None:
        if self.loadtest_rate <= 0 or (vs.namespace, f"{vs.name}-canary") not in topology.services:
            return
        for _ in range(self._due(("lt", vs.namespace, vs.name), self.loadtest_rate, dt)):
            self._deliver(topology, f"{vs.name}-canary", vs.namespace, LOADTEST_WORKLOAD)

    def _next_user(self, key: object) -> User:
        index = self._cursor[key]
        self._cursor[key] = (index + 1) % len(self._users)
        return self._users[index]

    def _client_request(self, topology: Topology, vs: VirtualService) -> None:
        user = self._next_user((vs.namespace, vs.name))
        headers = user.headers(vs.name, self._now)
        found = next(((i, r) for i, r in enumerate(vs.http) if r.applies_to(headers)), None)
        if found is None:
            self._no_route(vs)
            return
        index, route = found
        dest = self._pick(route, (vs.namespace, vs.name, index))
        delivered = self._deliver(topology, dest.host, vs.namespace, CLIENT_WORKLOAD)
        if delivered and dest.set_cookie:
            user.store_cookie(vs.name, dest.set_cookie, self._now)
        if route.mirror and self._fires(
            ("mirror", vs.namespace, vs.name, index), route.mirror_percent / 100.0
        ):
            self._deliver(topology, route.mirror, vs.namespace, CLIENT_WORKLOAD, mirrored=True)

    def _pick(self, route: HttpRoute, key: tuple[str, str, int]) -> RouteDestination:
        """Smooth weighted round robin: exact shares over any window, no randomness."""
        dests = route.destinations
        weights = [(d.weight if d.weight is not None else 0) for d in dests]
        if len(dests) == 1 or sum(weights) <= 0:
            return dests[0]
        total = float(sum(weights))
        for i, w in enumerate(weights):
            self._split[(*key, i)] += w / total
        best = max(range(len(dests)), key=lambda i: self._split[(*key, i)])
        self._split[(*key, best)] -= 1.0
        return dests[best]

    def _fires(self, key: object, share: float) -> bool:
        self._split[key] += share
        if self._split[key] >= 1.0 - 1e-9:
            self._split[key] -= 1.0
            return True
        return False

    def _deliver(
        self, topology: Topology, host: str, namespace: str, source: str, mirrored: bool = False
    ) -> bool:
        """Send one request to ``host``; False when no ready pod serves it (503 at the source)."""
        service, workload = topology.backend(host, namespace)
        if workload is None:
            if not mirrored:
                self.telemetry.record(Request(source, namespace, service, None, 503, "UH", None))
            return False
        code = (
            500
            if self._fires(
                ("err", workload.namespace, workload.name), workload.behaviour.error_rate
            )
            else 200
        )
        latency = workload.behaviour.sample_latency_ms(self._rng)
        self.telemetry.record(
            Request(source, namespace, service, workload, code, "-", latency, mirrored)
        )
        return True

    def _no_route(self, vs: VirtualService) -> None:
        service: Key = resolve_host(vs.name, vs.namespace)
        self.telemetry.record(
            Request(CLIENT_WORKLOAD, vs.namespace, service, None, 404, "NR", None)
        )
