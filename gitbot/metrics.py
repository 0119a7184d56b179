"""Flagger's Prometheus series, so that Flagger's dashboards and alert rules keep working.

Called by the daemon (gitbot/daemon.py): `set_canaries` after each rescan, `on_metrics` from the
Observer when a tick has measured the canary's metrics, `record_state` and `observe_duration`
after each tick. Names, labels and meanings are those of Flagger's pkg/metrics/recorder.go:

- `flagger_info{version, mesh_provider}` 1 (gitbot's version, provider `istio`)
- `flagger_canary_total{namespace}` Canary objects per namespace
- `flagger_canary_status{name, namespace}` last analysis result: 0 Progressing, 2 Failed, 1 other
- `flagger_canary_weight{workload, namespace}` destination weight of `<target>-primary`, `<target>`
- `flagger_canary_metric_analysis{name, namespace, metric}` last value of each metric check
- `flagger_canary_duration_seconds{name, namespace}` seconds spent in one analysis tick
- `flagger_canary_successes_total` / `flagger_canary_failures_total{name, namespace,
  deployment_strategy, analysis_status}` promotions completed / runs that failed

As in Flagger, `name` is the target Deployment's name (`targetRef.name`), not the Canary's.
Besides these, gitbot's own errors: `gitbot_git_errors_total` (the repository could not be
synced) and `gitbot_prometheus_errors_total` (metric queries that failed).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gitbot import __version__
from gitbot.core.spec import Canary
from gitbot.core.state import MetricResult, Phase, RolloutState

#: Flagger's series and their labels, as Flagger registers them.
FLAGGER_SERIES: dict[str, tuple[str, ...]] = {
    "flagger_info": ("version", "mesh_provider"),
    "flagger_canary_total": ("namespace",),
    "flagger_canary_status": ("name", "namespace"),
    "flagger_canary_weight": ("workload", "namespace"),
    "flagger_canary_metric_analysis": ("name", "namespace", "metric"),
    "flagger_canary_duration_seconds": ("name", "namespace"),
    "flagger_canary_successes_total": ("name", "namespace", "deployment_strategy",
                                       "analysis_status"),
    "flagger_canary_failures_total": ("name", "namespace", "deployment_strategy",
                                      "analysis_status"),
}


def status_value(phase: Phase) -> int:
    """Flagger's SetStatus: 0 while Progressing, 2 when Failed, 1 in every other phase."""
    if phase is Phase.PROGRESSING:
        return 0
    return 2 if phase is Phase.FAILED else 1


class FlaggerRecorder:
    """Flagger's series (and gitbot's error counters) on the daemon's registry."""

    def __init__(self, registry: CollectorRegistry, mesh_provider: str = "istio") -> None:
        def labels(name: str) -> list[str]:
            return list(FLAGGER_SERIES[name])

        self.info = Gauge("flagger_info", "Flagger version and mesh provider information",
                          labels("flagger_info"), registry=registry)
        self.total = Gauge("flagger_canary_total", "Total number of canary object",
                           labels("flagger_canary_total"), registry=registry)
        self.status = Gauge("flagger_canary_status", "Last canary analysis result",
                            labels("flagger_canary_status"), registry=registry)
        self.weight = Gauge("flagger_canary_weight",
                            "The virtual service destination weight current value",
                            labels("flagger_canary_weight"), registry=registry)
        self.analysis = Gauge("flagger_canary_metric_analysis",
                              "Last canary analysis result per metric",
                              labels("flagger_canary_metric_analysis"), registry=registry)
        self.duration = Histogram("flagger_canary_duration_seconds",
                                  "Seconds spent performing canary analysis.",
                                  labels("flagger_canary_duration_seconds"), registry=registry)
        self.successes = Counter("flagger_canary_successes", "Total number of canary successes",
                                 labels("flagger_canary_successes_total"), registry=registry)
        self.failures = Counter("flagger_canary_failures", "Total number of canary failures",
                                labels("flagger_canary_failures_total"), registry=registry)
        self.git_errors = Counter("gitbot_git_errors", "Syncs of the repository that failed",
                                  registry=registry)
        self.prometheus_errors = Counter("gitbot_prometheus_errors",
                                         "Metric queries to Prometheus that failed",
                                         ["namespace", "name"], registry=registry)
        self.pull_request = Gauge("gitbot_pull_request_open",
                                  "Number of the canary's open pull request (0: none)",
                                  ["namespace", "name", "action"], registry=registry)
        self.info.labels(__version__, mesh_provider).set(1)
        self._lock = threading.Lock()
        self._canaries: dict[str, Canary] = {}
        self._namespaces: set[str] = set()
        self._phases: dict[str, Phase] = {}
        self._analysed: set[str] = set()
        self._pr_actions: dict[str, set[str]] = {}

    def set_canaries(self, canaries: Iterable[Canary]) -> None:
        """After a rescan: the canaries the repository declares, counted per namespace."""
        with self._lock:
            self._canaries = {c.key: c for c in canaries}
            counts: dict[str, int] = {}
            for canary in self._canaries.values():
                counts[canary.namespace] = counts.get(canary.namespace, 0) + 1
            for gone in self._namespaces - set(counts):
                self.total.remove(gone)
            for namespace, count in counts.items():
                self.total.labels(namespace).set(count)
            self._namespaces = set(counts)

    def on_metrics(self, canary: Canary, results: tuple[MetricResult, ...], errors: int) -> None:
        """The Observer measured the canary's metrics: last values, failed queries."""
        with self._lock:
            self._canaries.setdefault(canary.key, canary)
            self._analysed.add(canary.key)
        for result in results:
            if result.value is not None:
                self.analysis.labels(canary.target.name, canary.namespace,
                                     result.name).set(result.value)
        if errors:
            self.prometheus_errors.labels(canary.namespace, canary.name).inc(errors)

    def observe_duration(self, key: str, seconds: float) -> None:
        """A tick of `key` ended; like Flagger, only ticks that ran an analysis are timed."""
        with self._lock:
            canary = self._canaries.get(key)
            analysed = key in self._analysed
            self._analysed.discard(key)
        if canary is not None and analysed:
            self.duration.labels(canary.target.name, canary.namespace).observe(seconds)

    def record_state(self, key: str, state: RolloutState) -> None:
        """The canary's state after a tick: status, weights, completed or failed runs."""
        with self._lock:
            canary = self._canaries.get(key)
            previous = self._phases.get(key)
            self._phases[key] = state.phase
        if canary is None:
            return
        target, namespace = canary.target.name, canary.namespace
        self._record_pull_request(canary, state)
        self.status.labels(target, namespace).set(status_value(state.phase))
        self.weight.labels(canary.primary_name, namespace).set(state.traffic.primary_weight)
        self.weight.labels(target, namespace).set(state.traffic.canary_weight)
        if previous is None or previous is state.phase:
            return
        outcome = {"Succeeded": self.successes, "Failed": self.failures}.get(state.phase.value)
        if outcome is not None:
            analysis = "skipped" if canary.skip_analysis else "completed"
            outcome.labels(target, namespace, canary.strategy.value, analysis).inc()

    def _record_pull_request(self, canary: Canary, state: RolloutState) -> None:
        """Pull-request mode: the open PR's number under its action; the others to 0."""
        pr = state.pull_request
        seen = self._pr_actions.setdefault(canary.key, set())
        for action in seen:  # earlier PRs of this canary are closed or merged now
            self.pull_request.labels(canary.namespace, canary.name, action).set(0)
        if pr is not None and pr.number:
            seen.add(pr.action)
            self.pull_request.labels(canary.namespace, canary.name, pr.action).set(pr.number)
