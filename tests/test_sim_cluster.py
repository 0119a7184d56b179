"""SimCluster traffic end to end without Prometheus: real git remote, real /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sim_support import (
    DATA,
    NS,
    GitOpsRepo,
    dest,
    podinfo,
    ready,
    requests_to,
    scrape,
    start_clusters,
    total,
    vs,
    wait_for,
    window,
)

from gitbot.core.routes import http_routes
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec, SessionAffinity
from gitbot.core.state import Traffic
from gitbot.sim.cluster import SimCluster
from gitbot.sim.scenario import Scenario


@pytest.fixture
def repo(tmp_path: Path) -> GitOpsRepo:
    return GitOpsRepo(tmp_path)


@pytest.fixture
def scenario() -> Scenario:
    return Scenario.load(DATA / "scenario.yaml")


@pytest.fixture
def start(repo: GitOpsRepo, scenario: Scenario) -> Iterator[Callable[..., SimCluster]]:
    """Start fast SimClusters on the repo; stopped after the test."""
    yield from start_clusters(repo, scenario)


def test_weights_split_requests_90_10(repo: GitOpsRepo, start: Callable[..., SimCluster]) -> None:
    cluster = podinfo(repo, start, ab_share=0.0)
    delta = window(cluster, 0.6)
    primary, canary = requests_to(delta, "podinfo-primary"), requests_to(delta, "podinfo")
    assert primary + canary > 500
    assert canary / (primary + canary) == pytest.approx(0.10, abs=0.02)


def test_canary_at_zero_replicas_gets_no_traffic(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    cluster = podinfo(repo, start, ab_share=0.0)
    text = (DATA / "podinfo" / "deployments.yaml").read_text(encoding="utf-8")
    sha = repo.commit("scale canary to zero", {
        "deployments.yaml": text.replace("replicas: 1", "replicas: 0"),
        "virtualservice.yaml": vs({"route": [dest("podinfo-primary", 50),
                                             dest("podinfo-canary", 50)]}),
    })
    assert cluster.wait_applied(sha, 30)
    delta = window(cluster, 0.5)
    assert requests_to(delta, "podinfo") == 0
    assert requests_to(delta, "podinfo-primary") > 300
    dropped = total(delta, "istio_requests_total", reporter="source", response_code="503",
                    destination_service_name="podinfo-canary")
    assert dropped == pytest.approx(requests_to(delta, "podinfo-primary"), rel=0.1)
    now = scrape(cluster)
    assert total(now, "kube_deployment_spec_replicas", namespace=NS, deployment="podinfo") == 0
    assert total(now, "kube_deployment_status_replicas_available", deployment="podinfo") == 0


def test_error_rate_of_the_image_gives_500s(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("50/50", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
    cluster = start(ab_share=0.0)
    assert cluster.wait_applied(sha, 30)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    delta = window(cluster, 0.5)
    canary_500 = requests_to(delta, "podinfo", response_code="500")
    canary_all = requests_to(delta, "podinfo")
    assert canary_all > 300
    assert canary_500 / canary_all == pytest.approx(0.30, abs=0.02)
    assert requests_to(delta, "podinfo-primary", response_code="500") == 0


AB_ROUTE_PRIMARY = {"route": [dest("podinfo-primary", 100)]}


@pytest.mark.parametrize(
    ("match", "canary_share"),
    [
        pytest.param([{"headers": {"x-canary": {"exact": "insider"}}}], 0.25, id="header-exact"),
        pytest.param([{"headers": {"x-canary": {"prefix": "ins"}}}], 0.25, id="header-prefix"),
        pytest.param([{"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}],
                     0.25, id="cookie-regex"),
        pytest.param([{"headers": {"x-canary": {"exact": "outsider"}}}], 0.0, id="no-match"),
    ],
)
def test_ab_match_routes_insiders_to_the_canary(
    repo: GitOpsRepo, start: Callable[..., SimCluster], match: list[Any], canary_share: float
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("A/B", {"virtualservice.yaml": vs(
        {"match": match, "route": [dest("podinfo-primary", 0), dest("podinfo-canary", 100)]},
        AB_ROUTE_PRIMARY)})
    cluster = start(ab_share=0.25)
    assert cluster.wait_applied(sha, 30)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    delta = window(cluster, 0.4)
    primary, canary = requests_to(delta, "podinfo-primary"), requests_to(delta, "podinfo")
    assert primary + canary > 300
    assert canary / (primary + canary) == pytest.approx(canary_share, abs=0.03)


def test_mirror_copies_a_share_to_the_canary(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("mirror", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)],
         "mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 50.0}})})
    cluster = start(ab_share=0.0)
    assert cluster.wait_applied(sha, 30)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    delta = window(cluster, 0.5)
    primary, mirrored = requests_to(delta, "podinfo-primary"), requests_to(delta, "podinfo")
    assert primary > 300
    assert mirrored / primary == pytest.approx(0.5, abs=0.03)
    client = total(delta, "istio_requests_total", reporter="source")
    assert client == pytest.approx(primary, rel=0.05)


def settled_canary_share(start: Callable[..., SimCluster], sha: str) -> float:
    """The canary's share of 50 cookie-keeping users' requests once their cookies settled."""
    cluster = start(ab_share=0.0, users=50)
    assert cluster.wait_applied(sha, 30)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    time.sleep(0.5)
    delta = window(cluster, 0.4)
    primary, canary = requests_to(delta, "podinfo-primary"), requests_to(delta, "podinfo")
    return canary / (primary + canary)


def test_session_affinity_keeps_users_on_the_canary(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    cookie = "flagger-cookie=abcdefghij; Max-Age=21600"
    sha = repo.commit("session affinity", {"virtualservice.yaml": vs(
        {"match": [{"headers": {"Cookie": {"regex": ".*flagger-cookie.*abcdefghij.*"}}}],
         "route": [dest("podinfo-primary", 0), dest("podinfo-canary", 100)]},
        {"route": [dest("podinfo-primary", 90),
                   dest("podinfo-canary", 10,
                        headers={"response": {"add": {"Set-Cookie": cookie}}})]})})
    assert settled_canary_share(start, sha) > 0.9


@pytest.mark.parametrize(("primary_cookie", "low", "high"), [
    pytest.param("", 0.9, 1.0, id="canary-cookie-only-drifts-everyone-to-the-canary"),
    pytest.param("primary-cookie", 0.2, 0.8, id="primary-cookie-keeps-the-split"),
])
def test_session_affinity_with_gitbots_routes(
    repo: GitOpsRepo, start: Callable[..., SimCluster], primary_cookie: str, low: float,
    high: float,
) -> None:
    """The routes gitbot writes: with `primaryCookieName` users stay where they landed."""
    affinity = SessionAffinity(cookie_name="flagger-cookie", primary_cookie_name=primary_cookie)
    spec = Canary(name="podinfo", namespace=NS, target=ObjectRef("podinfo"),
                  service=ServiceSpec(port=9898),
                  analysis=Analysis(interval_seconds=3600, session_affinity=affinity))
    traffic = Traffic(50, 50, session_cookie="flagger-cookie=abcdefghij",
                      primary_cookie="primary-cookie=klmnopqrst" if primary_cookie else "")
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("session affinity", {"virtualservice.yaml": vs(*http_routes(spec, traffic))})
    assert low <= settled_canary_share(start, sha) <= high


def test_loadtest_traffic_goes_straight_to_the_canary(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("all primary", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)]})})
    cluster = start(ab_share=0.0, request_rate=200.0, loadtest_rate=1000.0)
    assert cluster.wait_applied(sha, 30)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    delta = window(cluster, 0.5)
    loadtest = requests_to(delta, "podinfo", source_workload="flagger-loadtester",
                           destination_service="podinfo-canary.test.svc.cluster.local")
    clients = requests_to(delta, "podinfo-primary", source_workload="loadgenerator")
    assert loadtest > 300
    assert loadtest / clients == pytest.approx(1000 / 200, rel=0.1)
    assert requests_to(delta, "podinfo", source_workload="loadgenerator") == 0

