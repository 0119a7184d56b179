"""The simulated cluster's /metrics: Istio, kube-state-metrics and Flux series with real labels.

``gitbot.sim.mesh`` records each request into ``Telemetry``; ``MetricsExporter`` (started by
``gitbot.sim.cluster.SimCluster``) serves them from its own ``CollectorRegistry`` on 127.0.0.1 as
``istio_requests_total``, ``istio_request_duration_milliseconds`` (standard Istio buckets), the
``kube_deployment_*`` gauges and Flux's ``gotk_resource_info``, for Prometheus to scrape.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from gitbot.sim.workloads import DeploymentSnapshot, Key, Workload

ISTIO_BUCKETS_MS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)
REQUEST_LABELS = (
    "reporter", "source_workload", "source_workload_namespace", "destination_workload",
    "destination_workload_namespace", "destination_service", "destination_service_name",
    "destination_service_namespace", "request_protocol", "response_code", "response_flags",
    "connection_security_policy",
)
FLUX_LABELS = (
    "customresource_group", "customresource_kind", "customresource_version", "name", "namespace",
    "revision", "ready", "suspended",
)


class Request(NamedTuple):
    """One routed request as the mesh saw it (workload None: no ready pod, seen at the source)."""

    source_workload: str
    source_namespace: str
    service: Key
    workload: Workload | None
    code: int
    flags: str
    latency_ms: float | None
    mirrored: bool = False


@dataclass
class _Histogram:
    buckets: list[int]
    total: float = 0.0


class Telemetry:
    """Aggregated Istio request telemetry; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, ...], int] = {}
        self._durations: dict[tuple[str, ...], _Histogram] = {}

    def record(self, request: Request) -> None:
        """Count a request at the destination (when served) and at the source (unless mirrored)."""
        with self._lock:
            if request.workload is not None:
                labels = _labels("destination", request)
                self._requests[labels] = self._requests.get(labels, 0) + 1
                self._observe(labels, request.latency_ms or 0.0)
            if not request.mirrored:
                labels = _labels("source", request)
                self._requests[labels] = self._requests.get(labels, 0) + 1

    def _observe(self, labels: tuple[str, ...], value: float) -> None:
        hist = self._durations.get(labels)
        if hist is None:
            hist = self._durations[labels] = _Histogram([0] * (len(ISTIO_BUCKETS_MS) + 1))
        hist.buckets[bisect.bisect_left(ISTIO_BUCKETS_MS, value)] += 1
        hist.total += value

    def families(self) -> list[Metric]:
        """The two Istio metric families as of now."""
        requests = CounterMetricFamily(
            "istio_requests", "Requests seen by the simulated mesh", labels=REQUEST_LABELS
        )
        durations = HistogramMetricFamily(
            "istio_request_duration_milliseconds", "Request duration in ms",
            labels=REQUEST_LABELS,
        )
        with self._lock:
            for labels, count in sorted(self._requests.items()):
                requests.add_metric(labels, count)
            for labels, hist in sorted(self._durations.items()):
                durations.add_metric(labels, _cumulative(hist.buckets), hist.total)
        return [requests, durations]


def _labels(reporter: str, r: Request) -> tuple[str, ...]:
    namespace, name = r.service
    workload, workload_ns = ("unknown", "unknown") if r.workload is None else (
        r.workload.name, r.workload.namespace)
    return (
        reporter, r.source_workload, r.source_namespace, workload, workload_ns,
        f"{name}.{namespace}.svc.cluster.local", name, namespace, "http", str(r.code), r.flags,
        "mutual_tls" if reporter == "destination" else "unknown",
    )


def _cumulative(buckets: Sequence[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*ISTIO_BUCKETS_MS, float("inf")), buckets, strict=True):
        running += count
        out.append(("+Inf" if bound == float("inf") else _le(bound), float(running)))
    return out


def _le(bound: float) -> str:
    return str(float(bound)) if bound != int(bound) else str(int(bound))


def deployment_families(deployments: Sequence[DeploymentSnapshot]) -> list[Metric]:
    """kube-state-metrics' Deployment gauges."""
    spec = GaugeMetricFamily("kube_deployment_spec_replicas", "Desired pods",
                             labels=("namespace", "deployment"))
    available = GaugeMetricFamily("kube_deployment_status_replicas_available", "Available pods",
                                  labels=("namespace", "deployment"))
    updated = GaugeMetricFamily("kube_deployment_status_replicas_updated", "Updated pods",
                                labels=("namespace", "deployment"))
    for d in deployments:
        spec.add_metric((d.namespace, d.name), d.replicas)
        available.add_metric((d.namespace, d.name), d.available)
        updated.add_metric((d.namespace, d.name), d.updated)
    return [spec, available, updated]


def flux_family(revision: str, ready: bool) -> Metric:
    """``gotk_resource_info`` for the flux-system Kustomization (no sample before a revision)."""
    info = GaugeMetricFamily("gotk_resource_info", "Flux resource info", labels=FLUX_LABELS)
    if revision:
        info.add_metric(
            ("kustomize.toolkit.fluxcd.io", "Kustomization", "v1", "flux-system", "flux-system",
             revision, "True" if ready else "False", "false"),
            1.0,
        )
    return info


def helm_family(releases: Sequence[tuple[str, str, str]], ready: bool) -> Metric:
    """``gotk_resource_info`` of the applied HelmReleases ((namespace, name, revision) each), as
    Flux's kube-state-metrics config exports them (the HelmRelease's namespace is
    ``exported_namespace`` once Prometheus adds its own ``namespace`` target label; here it is
    written as both). Ready once applied: the simulated helm-controller installs at once."""
    labels = (*FLUX_LABELS, "exported_namespace")
    info = GaugeMetricFamily("gotk_resource_info", "Flux resource info", labels=labels)
    for namespace, name, revision in releases:
        info.add_metric(("helm.toolkit.fluxcd.io", "HelmRelease", "v2", name, namespace,
                         revision, "True" if ready else "False", "false", namespace), 1.0)
    return info


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Collector:
    def __init__(self, collect: Callable[[], list[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        yield from self._collect()


class MetricsExporter:
    """Serves ``collect()``'s families at http://127.0.0.1:<port>/metrics."""

    def __init__(self, collect: Callable[[], list[Metric]], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(collect))
        self._host, self._requested_port = host, port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> None:
        """Bind and serve in a background thread."""
        server = make_server(self._host, self._requested_port, make_wsgi_app(self.registry),
                             _ThreadingServer, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="sim-metrics", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        self.port = int(server.server_address[1])

    def close(self) -> None:
        """Stop serving, close the socket and join the thread."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
