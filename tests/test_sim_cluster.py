"""SimCluster end to end without Prometheus: real git remotes, real /metrics scrapes."""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from gitbot.sim.cluster import SimCluster
from gitbot.sim.scenario import Scenario

DATA = Path(__file__).parent / "data" / "sim"
NS = "test"
Samples = list[tuple[str, dict[str, str], float]]


class GitOpsRepo:
    """A bare remote plus a work tree that commits and pushes to it."""

    def __init__(self, root: Path) -> None:
        self.remote = root / "remote.git"
        self.work = root / "work"
        _git(root, "init", "-q", "--bare", "-b", "main", str(self.remote))
        _git(root, "clone", "-q", str(self.remote), str(self.work))
        _git(self.work, "checkout", "-q", "-b", "main")

    def commit(self, message: str, files: Mapping[str, str | None]) -> str:
        """Write (or delete, for None) files, commit, push; return the sha."""
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        _git(self.work, "add", "-A")
        _git(self.work, "commit", "-q", "-m", message)
        _git(self.work, "push", "-q", "origin", "main")
        return _git(self.work, "rev-parse", "HEAD").strip()

    def copy_tree(self, source: Path, message: str) -> str:
        """Commit a copy of a directory of manifests."""
        files = {str(p.relative_to(source)): p.read_text(encoding="utf-8")
                 for p in sorted(source.rglob("*")) if p.is_file()}
        return self.commit(message, files)


def _git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "HOME": str(cwd), "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def dump(*docs: Any) -> str:
    """YAML text of several documents."""
    out = io.StringIO()
    YAML().dump_all(list(docs), out)
    return out.getvalue()


def vs(*routes: dict[str, Any]) -> str:
    """virtualservice.yaml for podinfo with the given http routes."""
    return dump({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                 "metadata": {"name": "podinfo", "namespace": NS},
                 "spec": {"hosts": ["podinfo"], "http": list(routes)}})


def dest(host: str, weight: int, **extra: Any) -> dict[str, Any]:
    return {"destination": {"host": host}, "weight": weight, **extra}


def scrape(cluster: SimCluster) -> Samples:
    text = requests.get(cluster.metrics_url, timeout=5).text
    return [(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples
               if n == name and all(ls.get(k) == want for k, want in labels.items()))


def requests_to(samples: Samples, workload: str, **labels: str) -> float:
    return total(samples, "istio_requests_total", reporter="destination",
                 destination_workload=workload, destination_workload_namespace=NS, **labels)


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def window(cluster: SimCluster, seconds: float) -> Samples:
    """Counter increases over ``seconds`` of simulated traffic."""
    before = {(n, tuple(sorted(ls.items()))): v for n, ls, v in scrape(cluster)}
    time.sleep(seconds)
    return [(n, ls, v - before.get((n, tuple(sorted(ls.items()))), 0.0))
            for n, ls, v in scrape(cluster)]


@pytest.fixture
def repo(tmp_path: Path) -> GitOpsRepo:
    return GitOpsRepo(tmp_path)


@pytest.fixture
def scenario() -> Scenario:
    return Scenario.load(DATA / "scenario.yaml")


@pytest.fixture
def start(repo: GitOpsRepo, scenario: Scenario) -> Iterator[Callable[..., SimCluster]]:
    """Start a fast SimCluster on the podinfo repo; stopped after the test."""
    started: list[SimCluster] = []

    def _start(**kwargs: Any) -> SimCluster:
        options: dict[str, Any] = {"scenario": scenario, "flux_interval": 0.0,
                                   "request_rate": 2000.0, "tick": 0.02, **kwargs}
        cluster = SimCluster(str(repo.remote), "main", **options)
        started.append(cluster)
        cluster.start()
        return cluster

    yield _start
    for cluster in started:
        cluster.stop()
        assert cluster.thread_errors() == []


def ready(cluster: SimCluster, *names: str) -> Callable[[], bool]:
    def check() -> bool:
        snaps = [cluster.deployment(NS, n) for n in names]
        return all(s is not None and s.available == s.replicas for s in snaps)
    return check


def podinfo(repo: GitOpsRepo, cluster_start: Callable[..., SimCluster], **kw: Any) -> SimCluster:
    """The podinfo app committed and applied, both Deployments available."""
    sha = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = cluster_start(**kw)
    assert cluster.wait_applied(sha, 5)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    return cluster


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
    assert cluster.wait_applied(sha, 5)
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
    assert cluster.wait_applied(sha, 5)
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
    assert cluster.wait_applied(sha, 5)
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
    assert cluster.wait_applied(sha, 5)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    delta = window(cluster, 0.5)
    primary, mirrored = requests_to(delta, "podinfo-primary"), requests_to(delta, "podinfo")
    assert primary > 300
    assert mirrored / primary == pytest.approx(0.5, abs=0.03)
    client = total(delta, "istio_requests_total", reporter="source")
    assert client == pytest.approx(primary, rel=0.05)


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
    cluster = start(ab_share=0.0, users=50)
    assert cluster.wait_applied(sha, 5)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    time.sleep(0.5)
    delta = window(cluster, 0.4)
    primary, canary = requests_to(delta, "podinfo-primary"), requests_to(delta, "podinfo")
    assert canary / (primary + canary) > 0.9


def test_loadtest_traffic_goes_straight_to_the_canary(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    sha = repo.commit("all primary", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)]})})
    cluster = start(ab_share=0.0, request_rate=200.0, loadtest_rate=1000.0)
    assert cluster.wait_applied(sha, 5)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    delta = window(cluster, 0.5)
    loadtest = requests_to(delta, "podinfo", source_workload="flagger-loadtester",
                           destination_service="podinfo-canary.test.svc.cluster.local")
    assert loadtest == pytest.approx(500, rel=0.25)
    assert requests_to(delta, "podinfo", source_workload="loadgenerator") == 0


def flux_info(cluster: SimCluster) -> list[dict[str, str]]:
    return [ls for n, ls, v in scrape(cluster) if n == "gotk_resource_info" and v == 1]


def test_flux_applies_a_new_commit_only_after_its_interval(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    first = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = start(flux_interval=0.8)
    assert cluster.wait_applied(first, 5)
    second = repo.commit("50/50", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
    assert not cluster.wait_applied(second, 0.5)
    assert cluster.applied_revision == first
    assert [i["revision"] for i in flux_info(cluster)] == [f"main@sha1:{first}"]
    assert cluster.wait_applied(second, 3)
    info = flux_info(cluster)
    assert len(info) == 1
    assert info[0]["revision"] == f"main@sha1:{second}"
    assert (info[0]["customresource_kind"], info[0]["name"], info[0]["namespace"],
            info[0]["ready"]) == ("Kustomization", "flux-system", "flux-system", "True")


def test_paused_flux_applies_nothing_until_resumed(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    first = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = start()
    assert cluster.wait_applied(first, 5)
    cluster.pause_flux()
    second = repo.commit("50/50", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
    assert not cluster.wait_applied(second, 0.4)
    cluster.set_flux_interval(0.3)
    cluster.resume_flux()
    started = time.monotonic()
    assert cluster.wait_applied(second, 3)
    assert time.monotonic() - started >= 0.25


def test_broken_manifest_keeps_the_last_good_revision(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    good = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = start()
    assert cluster.wait_applied(good, 5)
    broken = repo.commit("broken", {"virtualservice.yaml": "spec: [unclosed\n"})
    wait_for(lambda: not cluster.flux_status().ready)
    assert cluster.applied_revision == good
    assert "virtualservice.yaml" in cluster.flux_status().error
    assert [(i["revision"], i["ready"]) for i in flux_info(cluster)] == [
        (f"main@sha1:{good}", "False")]
    fixed = repo.commit("fixed", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)]})})
    assert cluster.wait_applied(fixed, 5)
    assert cluster.wait_applied(broken, 0.1)  # contained in the applied history
    assert cluster.flux_status().ready


def test_kustomization_resources_and_namespace_are_respected(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    sha = repo.copy_tree(DATA / "kustomized", "kustomized app")
    cluster = start()
    assert cluster.wait_applied(sha, 5)
    assert [(d.namespace, d.name, d.replicas) for d in cluster.deployments()] == [
        (NS, "podinfo", 3)]
    wait_for(ready(cluster, "podinfo"))
    delta = window(cluster, 0.3)
    assert requests_to(delta, "podinfo", destination_service_name="podinfo") > 300


def test_new_pods_become_available_after_the_image_ready_delay(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    cluster = podinfo(repo, start)
    text = (DATA / "podinfo" / "deployments.yaml").read_text(encoding="utf-8")
    sha = repo.commit("slow canary", {"deployments.yaml": text.replace(
        "podinfo:6.0.2", "podinfo:6.0.3").replace("replicas: 1", "replicas: 2")})
    assert cluster.wait_applied(sha, 5)
    snap = cluster.deployment(NS, "podinfo")
    assert snap is not None
    assert (snap.replicas, snap.updated) == (2, 0)
    assert snap.image == "ghcr.io/stefanprodan/podinfo:6.0.3"
    assert snap.available <= 1
    wait_for(ready(cluster, "podinfo"), timeout=2)
    delta = window(cluster, 0.4)
    by_le = {le: total(delta, "istio_request_duration_milliseconds_bucket", le=le,
                       reporter="destination", destination_workload="podinfo")
             for le in ("250", "1000", "+Inf")}
    assert by_le["+Inf"] > 30
    assert by_le["250"] / by_le["+Inf"] < 0.1
    assert by_le["1000"] / by_le["+Inf"] > 0.95


def test_stop_leaves_no_thread_or_socket(
    repo: GitOpsRepo, scenario: Scenario
) -> None:
    repo.copy_tree(DATA / "podinfo", "podinfo")
    before = set(threading.enumerate())
    with SimCluster(str(repo.remote), scenario=scenario, flux_interval=0, tick=0.02) as cluster:
        url = cluster.metrics_url
        assert requests.get(url, timeout=5).status_code == 200
    assert set(threading.enumerate()) <= before
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
