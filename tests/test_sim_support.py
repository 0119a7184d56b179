"""Helpers for the gitbot.sim tests: a real git remote, manifests, /metrics scraping.

Imported by tests/test_sim_cluster.py, test_sim_flux.py and test_sim_prometheus.py (no tests here).
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

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


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
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


def start_clusters(repo: GitOpsRepo, scenario: Scenario) -> Iterator[Callable[..., SimCluster]]:
    """Body of the ``start`` fixtures: a fast SimCluster factory, all stopped at the end."""
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
    assert cluster.wait_applied(sha, 30)
    wait_for(ready(cluster, "podinfo", "podinfo-primary"))
    return cluster


def flux_info(cluster: SimCluster) -> list[dict[str, str]]:
    return [ls for n, ls, v in scrape(cluster) if n == "gotk_resource_info" and v == 1]

