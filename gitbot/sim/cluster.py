"""``SimCluster``: a simulated Flux + Istio cluster that gitbot's demo and end-to-end tests drive.

It follows a git branch like Flux (``gitbot.sim.flux``), keeps the applied Deployments, Services and
VirtualServices (``gitbot.sim.workloads``), sends simulated traffic through the mesh
(``gitbot.sim.mesh``) with per-image behaviour (``gitbot.sim.scenario``), and serves the resulting
Istio, kube-state-metrics and Flux series on a local /metrics endpoint (``gitbot.sim.exporter``).
Use it as a context manager; ``stop()`` joins every thread and closes the socket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from prometheus_client.core import Metric

from gitbot.sim.exporter import (
    MetricsExporter,
    Telemetry,
    deployment_families,
    flux_family,
    helm_family,
)
from gitbot.sim.flux import FluxStatus, FluxSync, GitMirror
from gitbot.sim.mesh import Mesh
from gitbot.sim.objects import HelmReleaseStatus, KubeObject
from gitbot.sim.scenario import Scenario
from gitbot.sim.workloads import ClusterObjects, DeploymentSnapshot

_MIN_FLUX_POLL = 0.05


@dataclass(frozen=True)
class SimConfig:
    """Settings of a ``SimCluster`` (the keyword arguments of its constructor)."""

    flux_interval: float = 2.0
    request_rate: float = 20.0
    ab_share: float = 0.1
    loadtest_rate: float = 0.0
    tick: float = 0.1
    users: int = 100
    seed: int = 0
    port: int = 0
    flux_cluster: str | None = None  # the Flux cluster directory applied (None: the only one)


class _Loop:
    """A thread calling ``step`` every ``period`` seconds until stopped."""

    def __init__(self, name: str, period: float, step: Callable[[], None]) -> None:
        self._period, self._step = period, step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as err:  # keep the simulation alive; remember what broke
                self.error = err
            self._stop.wait(self._period)


class SimCluster:
    """A simulated cluster following ``branch`` of ``remote_url``; thread-safe."""

    def __init__(
        self,
        remote_url: str,
        branch: str = "main",
        *,
        scenario: Scenario | Path | None = None,
        flux_interval: float = 2.0,
        request_rate: float = 20.0,
        ab_share: float = 0.1,
        loadtest_rate: float = 0.0,
        tick: float = 0.1,
        users: int = 100,
        seed: int = 0,
        port: int = 0,
        flux_cluster: str | None = None,
    ) -> None:
        self.remote_url, self.branch = remote_url, branch
        self.config = SimConfig(flux_interval, request_rate, ab_share, loadtest_rate, tick,
                                users, seed, port, flux_cluster)
        self.scenario = Scenario.load(scenario) if isinstance(scenario, Path) else (
            scenario or Scenario())
        self._objects = ClusterObjects(self.scenario)
        self._telemetry = Telemetry()
        self._mesh = Mesh(self._telemetry, request_rate=request_rate, ab_share=ab_share,
                          loadtest_rate=loadtest_rate, users=users, seed=seed)
        self._exporter = MetricsExporter(self._collect, port=port)
        self._mirror: GitMirror | None = None
        self._flux: FluxSync | None = None
        self._loops: list[_Loop] = []
        self._last_tick = 0.0
        self._helm_releases: tuple[tuple[str, str, str], ...] = ()

    def __enter__(self) -> SimCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Clone the remote, serve /metrics and start the Flux and traffic threads."""
        self._mirror = GitMirror(self.remote_url, self.branch)
        self._flux = FluxSync(self._mirror, self._apply, self.config.flux_interval,
                              self.config.flux_cluster)
        self._exporter.start()
        self._last_tick = time.monotonic()
        flux_period = max(self.config.tick, _MIN_FLUX_POLL)
        self._loops = [_Loop("sim-flux", flux_period, self._flux.poll),
                       _Loop("sim-mesh", self.config.tick, self._traffic_step)]
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        """Join every thread, close the HTTP server and remove the clone."""
        for loop in self._loops:
            loop.stop()
        self._loops = []
        self._exporter.close()
        if self._mirror is not None:
            self._mirror.close()
            self._mirror = None

    @property
    def metrics_address(self) -> str:
        """``127.0.0.1:<port>`` of the /metrics endpoint, for a Prometheus scrape config."""
        return f"127.0.0.1:{self._exporter.port}"

    @property
    def metrics_url(self) -> str:
        """Full URL of the /metrics endpoint."""
        return f"http://{self.metrics_address}/metrics"

    @property
    def applied_revision(self) -> str:
        """The sha Flux applied last, or "" before the first apply."""
        return self.flux_status().applied_sha

    @property
    def revision(self) -> str:
        """The applied revision as Flux names it: ``<branch>@sha1:<sha>`` ("" before any)."""
        sha = self.applied_revision
        return f"{self.branch}@sha1:{sha}" if sha else ""

    def flux_status(self) -> FluxStatus:
        """Applied sha, readiness and the error of the last failed apply."""
        if self._flux is None:
            return FluxStatus("", True, "")
        return self._flux.status()

    def wait_applied(self, sha: str, timeout: float = 10.0) -> bool:
        """Wait until Flux applied ``sha`` (or a later commit containing it); False on timeout."""
        if self._flux is None:
            raise RuntimeError("SimCluster is not started")
        return self._flux.wait_applied(sha, timeout)

    def deployment(self, namespace: str, name: str) -> DeploymentSnapshot | None:
        """The Deployment's replicas, available and updated pods and images, or None."""
        found = [d for d in self.deployments() if (d.namespace, d.name) == (namespace, name)]
        return found[0] if found else None

    def deployments(self) -> list[DeploymentSnapshot]:
        """Every applied Deployment."""
        return self._objects.deployments(time.monotonic())

    def service_backend(self, namespace: str, name: str) -> str | None:
        """The Deployment whose ready pods the Service selects now (None: no endpoints), as a
        client outside the mesh calling the Service directly would reach it."""
        found = self._objects.topology(time.monotonic()).backends.get((namespace, name))
        return found.name if found is not None else None

    def set_flux_interval(self, seconds: float) -> None:
        """Change Flux's delay before applying a new head."""
        self.config = replace(self.config, flux_interval=seconds)
        if self._flux is not None:
            self._flux.set_interval(seconds)

    def pause_flux(self) -> None:
        """Stop fetching and applying until ``resume_flux``."""
        if self._flux is not None:
            self._flux.set_paused(True)

    def resume_flux(self) -> None:
        """Fetch and apply again."""
        if self._flux is not None:
            self._flux.set_paused(False)

    def set_rates(self, *, request_rate: float | None = None,
                  loadtest_rate: float | None = None) -> None:
        """Change the client or load-test request rate while running."""
        if request_rate is not None:
            self._mesh.request_rate = request_rate
        if loadtest_rate is not None:
            self._mesh.loadtest_rate = loadtest_rate

    def thread_errors(self) -> list[BaseException]:
        """Exceptions the background threads caught (empty when all is well)."""
        return [loop.error for loop in self._loops if loop.error is not None]

    def _apply(self, objects: Sequence[KubeObject], sha: str) -> None:
        self._helm_releases = tuple(sorted((o.namespace, o.name, o.revision) for o in objects
                                           if isinstance(o, HelmReleaseStatus)))
        self._objects.apply(objects, time.monotonic())

    def _traffic_step(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        self._mesh.tick(self._objects.topology(now), dt, now)

    def _collect(self) -> list[Metric]:
        status = self.flux_status()
        revision = f"{self.branch}@sha1:{status.applied_sha}" if status.applied_sha else ""
        return [*self._telemetry.families(), *deployment_families(self.deployments()),
                flux_family(revision, status.ready, status.kustomizations),
                helm_family(self._helm_releases, True)]

