"""SimCluster scraped by a real Prometheus: Flagger's built-in Istio queries and Flux's revision."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_sim_support import DATA, GitOpsRepo, dest, podinfo, start_clusters, vs

from gitbot.sim.cluster import SimCluster
from gitbot.sim.prometheus import PrometheusServer
from gitbot.sim.scenario import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

SUCCESS_RATE = (
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo",response_code!~"5.*"}[10s])) / '
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo"}[10s])) * 100'
)
DURATION_P99 = (
    'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{'
    'reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo-primary"}[10s])) by (le))'
)

SAMPLES_ENOUGH = (
    'count_over_time(istio_requests_total{reporter="destination",destination_workload="podinfo",'
    'response_code="200"}[10s]) >= 5'
)


@pytest.fixture
def repo(tmp_path: Path) -> GitOpsRepo:
    return GitOpsRepo(tmp_path)


@pytest.fixture
def start(repo: GitOpsRepo) -> Iterator[Callable[..., SimCluster]]:
    yield from start_clusters(repo, Scenario.load(DATA / "scenario.yaml"))


def _value(prometheus: PrometheusServer, promql: str) -> float:
    return float(prometheus.wait_for_data(promql, timeout=30)[0]["value"][1])


def test_flagger_queries_see_the_simulated_canary(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    cluster = podinfo(repo, start, request_rate=400.0, tick=0.05, ab_share=0.0)
    sha = repo.commit("50/50", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
    assert cluster.wait_applied(sha, 30)
    with PrometheusServer([cluster.metrics_address]) as prometheus:
        revision = f'gotk_resource_info{{revision="main@sha1:{sha}",ready="True"}}'
        assert _value(prometheus, revision) == 1
        prometheus.wait_for_data(SAMPLES_ENOUGH, timeout=30)
        assert _value(prometheus, SUCCESS_RATE) == pytest.approx(70, abs=5)
        assert 30 < _value(prometheus, DURATION_P99) < 120
        available = 'kube_deployment_status_replicas_available{namespace="test"}'
        assert _value(prometheus, f'{available[:-1]},deployment="podinfo"}}') == 1


def test_scaled_down_canary_gives_no_data(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    text = (DATA / "podinfo" / "deployments.yaml").read_text(encoding="utf-8")
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("canary at zero", {
        "deployments.yaml": text.replace("replicas: 1", "replicas: 0"),
        "virtualservice.yaml": vs({"route": [dest("podinfo-primary", 50),
                                             dest("podinfo-canary", 50)]})})
    cluster = start(request_rate=400.0, tick=0.05, ab_share=0.0)
    assert cluster.wait_applied(sha, 30)
    with PrometheusServer([cluster.metrics_address]) as prometheus:
        prometheus.wait_for_data('kube_deployment_spec_replicas{deployment="podinfo"} == 0')
        prometheus.wait_for_data('istio_requests_total{destination_workload="podinfo-primary"}')
        time.sleep(2)
        assert prometheus.query(SUCCESS_RATE) == []  # Flagger: "no values found"
