"""/metrics carries Flagger's series with Flagger's names, labels, types and meanings, so that
Flagger's Grafana dashboards and alert rules keep working; values after real ticks (e2e)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitbot import __version__
from gitbot.adapters.specs import load_repository
from gitbot.core.spec import Canary
from gitbot.core.state import MetricResult, Phase, PullRequestRef, RolloutState, Traffic
from gitbot.daemon import Daemon
from gitbot.metrics import FlaggerRecorder
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo
from gitbot.sim.world import World

# Flagger's pkg/metrics/recorder.go (fluxcd/flagger): name -> (type, labels). Written out here,
# not imported from gitbot.metrics, so that the comparison means something.
FLAGGER_DOCUMENTED = {
    "flagger_info": ("gauge", {"version", "mesh_provider"}),
    "flagger_canary_total": ("gauge", {"namespace"}),
    "flagger_canary_status": ("gauge", {"name", "namespace"}),
    "flagger_canary_weight": ("gauge", {"workload", "namespace"}),
    "flagger_canary_metric_analysis": ("gauge", {"name", "namespace", "metric"}),
    "flagger_canary_duration_seconds": ("histogram", {"name", "namespace"}),
    "flagger_canary_successes_total": (
        "counter", {"name", "namespace", "deployment_strategy", "analysis_status"}),
    "flagger_canary_failures_total": (
        "counter", {"name", "namespace", "deployment_strategy", "analysis_status"}),
}


AB_MATCH = "      - headers:\n          x-canary:\n            exact: insider\n"


def _canary(tmp_path: Path, **options: object) -> Canary:
    dev = create_gitops_repo(tmp_path, options=CanaryOptions(**options))  # type: ignore[arg-type]
    return load_repository(dev.clone).canaries[0]


def _samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def _value(registry: CollectorRegistry, series: str, **labels: str) -> float | None:
    return _samples(registry).get((series, frozenset(labels.items())))


def test_series_names_types_and_labels_are_flaggers(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = _canary(tmp_path)
    recorder.set_canaries([canary])
    recorder.on_metrics(canary, (MetricResult("request-success-rate", 99.5, True, "ok"),), 0)
    recorder.observe_duration(canary.key, 0.2)
    recorder.record_state(canary.key, RolloutState(phase=Phase.PROGRESSING))
    recorder.record_state(canary.key, RolloutState(phase=Phase.SUCCEEDED))
    recorder.record_state(canary.key, RolloutState(phase=Phase.PROGRESSING))
    recorder.record_state(canary.key, RolloutState(phase=Phase.FAILED))
    text = generate_latest(registry).decode()
    exposed = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("flagger_") or family.name.endswith("_created"):
            continue  # `_created`: prometheus_client's creation timestamps, not a series
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        name = family.name + ("_total" if family.type == "counter" else "")
        exposed[name] = (family.type, labels)
    assert exposed == FLAGGER_DOCUMENTED


@pytest.mark.parametrize(
    ("phase", "value"),
    [pytest.param(phase, {Phase.PROGRESSING: 0, Phase.FAILED: 2}.get(phase, 1), id=phase.value)
     for phase in Phase],
)
def test_status_is_0_progressing_2_failed_1_otherwise(
    tmp_path: Path, phase: Phase, value: int
) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = _canary(tmp_path)
    recorder.set_canaries([canary])
    recorder.record_state(canary.key, RolloutState(phase=phase))
    assert _value(registry, "flagger_canary_status", name="podinfo", namespace="test") == value


def test_weights_use_the_workload_label_for_primary_and_canary(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = _canary(tmp_path)
    recorder.set_canaries([canary])
    recorder.record_state(canary.key, RolloutState(phase=Phase.PROGRESSING,
                                                   traffic=Traffic(70, 30)))
    weight = "flagger_canary_weight"
    assert _value(registry, weight, workload="podinfo-primary", namespace="test") == 70
    assert _value(registry, weight, workload="podinfo", namespace="test") == 30


def test_the_open_pull_request_is_a_gauge_per_action_and_drops_to_0_when_it_closes(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = _canary(tmp_path)
    recorder.set_canaries([canary])
    pr = PullRequestRef(branch="gitbot/test/podinfo/9-promote", head="a" * 40,
                        action="promote", step=9, number=12)
    recorder.record_state(canary.key, RolloutState(phase=Phase.WAITING_PROMOTION,
                                                   pull_request=pr))
    series = "gitbot_pull_request_open"
    assert _value(registry, series, namespace="test", name="podinfo", action="promote") == 12
    recorder.record_state(canary.key, RolloutState(phase=Phase.PROMOTING))
    assert _value(registry, series, namespace="test", name="podinfo", action="promote") == 0


@pytest.mark.parametrize(
    ("options", "strategy", "analysis"),
    [
        pytest.param({}, "canary", "completed", id="canary"),
        pytest.param({"iterations": 3}, "blue-green", "completed", id="blue-green"),
        pytest.param({"iterations": 3, "match": AB_MATCH}, "ab-testing", "completed",
                     id="ab-testing"),
        pytest.param({"skip_analysis": True}, "canary", "skipped", id="skip-analysis"),
    ],
)
def test_completed_and_failed_runs_are_counted_once_with_strategy(
    tmp_path: Path, options: dict[str, object], strategy: str, analysis: str
) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = _canary(tmp_path, **options)
    assert canary.strategy.value == strategy
    recorder.set_canaries([canary])
    for phase in (Phase.SUCCEEDED, Phase.PROGRESSING, Phase.SUCCEEDED, Phase.SUCCEEDED,
                  Phase.PROGRESSING, Phase.FAILED, Phase.FAILED):
        recorder.record_state(canary.key, RolloutState(phase=phase))
    labels = {"name": "podinfo", "namespace": "test", "deployment_strategy": strategy,
              "analysis_status": analysis}
    # the first Succeeded is where a restarted daemon starts: not a transition it saw
    assert _value(registry, "flagger_canary_successes_total", **labels) == 1
    assert _value(registry, "flagger_canary_failures_total", **labels) == 1


def test_total_counts_canaries_per_namespace_and_forgets_empty_namespaces(
    tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    podinfo = _canary(tmp_path)
    other = replace(podinfo, name="other")
    elsewhere = replace(podinfo, namespace="prod")
    recorder.set_canaries([podinfo, other, elsewhere])
    assert _value(registry, "flagger_canary_total", namespace="test") == 2
    assert _value(registry, "flagger_canary_total", namespace="prod") == 1
    recorder.set_canaries([podinfo])
    assert _value(registry, "flagger_canary_total", namespace="test") == 1
    assert _value(registry, "flagger_canary_total", namespace="prod") is None


def test_failed_queries_count_as_prometheus_errors_and_keep_the_last_value(
    tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = _canary(tmp_path)
    recorder.on_metrics(canary, (MetricResult("request-duration", 120.0, True, "ok"),), 0)
    recorder.on_metrics(canary, (MetricResult("request-duration", None, False, "err"),), 1)
    assert _value(registry, "flagger_canary_metric_analysis", name="podinfo", namespace="test",
                  metric="request-duration") == 120.0
    assert _value(registry, "gitbot_prometheus_errors_total", namespace="test",
                  name="podinfo") == 1


@pytest.mark.e2e
@pytest.mark.prometheus
def test_values_after_real_ticks_of_the_daemon(tmp_path: Path) -> None:
    """The daemon's own tick (reconciler, real Prometheus, simulated cluster) feeds the series."""
    with World(tmp_path) as world:
        daemon = Daemon(world.app)
        daemon.rescan()  # the scheduler is not started: this test drives the ticks itself
        registry = daemon.metrics.registry
        key = "test/podinfo"

        def tick_until(done) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + 240
            while True:
                daemon.tick(key)
                if done():
                    return
                assert time.monotonic() < deadline, world.state().events[-5:]
                time.sleep(world.pace)  # the simulated analysis interval

        tick_until(lambda: world.state().phase is Phase.INITIALIZED)
        world.dev.release("6.0.1")
        tick_until(lambda: world.state().canary_weight >= 20)
        assert _value(registry, "flagger_info", version=__version__, mesh_provider="istio") == 1
        assert _value(registry, "flagger_canary_total", namespace="test") == 1
        assert _value(registry, "flagger_canary_status", name="podinfo", namespace="test") == 0
        weight = world.state().canary_weight
        assert _value(registry, "flagger_canary_weight", workload="podinfo",
                      namespace="test") == weight
        assert _value(registry, "flagger_canary_weight", workload="podinfo-primary",
                      namespace="test") == 100 - weight
        success = _value(registry, "flagger_canary_metric_analysis", name="podinfo",
                         namespace="test", metric="request-success-rate")
        assert success is not None and success > 99
        assert _value(registry, "flagger_canary_metric_analysis", name="podinfo",
                      namespace="test", metric="request-duration") is not None
        timed = _value(registry, "flagger_canary_duration_seconds_count", name="podinfo",
                       namespace="test")
        assert timed is not None and timed >= 1

        tick_until(lambda: world.state().phase is Phase.SUCCEEDED
                   and world.state().pending is None)
        assert _value(registry, "flagger_canary_status", name="podinfo", namespace="test") == 1
        assert _value(registry, "flagger_canary_successes_total", name="podinfo",
                      namespace="test", deployment_strategy="canary",
                      analysis_status="completed") == 1


def test_name_is_the_target_deployment_not_the_canary_as_in_flagger(tmp_path: Path) -> None:
    """Flagger's recorder labels by `cd.Spec.TargetRef.Name`: a Canary `frontend` whose target
    is the Deployment `podinfo` is `name="podinfo"` on every per-canary series."""
    registry = CollectorRegistry()
    recorder = FlaggerRecorder(registry)
    canary = replace(_canary(tmp_path), name="frontend")
    assert canary.target.name == "podinfo"
    recorder.set_canaries([canary])
    recorder.on_metrics(canary, (MetricResult("request-success-rate", 99.5, True, "ok"),), 0)
    recorder.observe_duration(canary.key, 0.2)
    recorder.record_state(canary.key, RolloutState(phase=Phase.PROGRESSING,
                                                   traffic=Traffic(90, 10)))
    recorder.record_state(canary.key, RolloutState(phase=Phase.SUCCEEDED))
    samples = _samples(registry)
    names = {dict(labels).get("name") for (series, labels) in samples
             if series.startswith("flagger_canary_") and "name" in dict(labels)}
    assert names == {"podinfo"}
    assert _value(registry, "flagger_canary_weight", workload="podinfo-primary",
                  namespace="test") == 100
