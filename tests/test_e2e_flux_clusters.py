"""End to end: two clusters in one repository, one Prometheus holding both clusters' series.

The gitops-istio-like repository has `clusters/eu` and `clusters/us`, each with a Flux
Kustomization building `./apps`. Two simulated clusters follow it (each its own cluster
directory), scraped by one real Prometheus that labels every series `cluster="eu"` / `"us"`
(as Thanos or Mimir hold them). Two gitbots, each with its `flux.cluster` and
`flux.clusterLabels`, see and move only their own cluster: the applied-revision gate of `eu`
holds while only `us` has applied gitbot's commit, and each writes its own files and state.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitbot.adapters.specs import load_repository
from gitbot.config import load_settings
from gitbot.core.state import RolloutState
from gitbot.history import for_cluster, tick_history
from gitbot.observe_sync import applying_kustomizations
from gitbot.sim.cluster import SimCluster
from gitbot.sim.gitops import IMAGE, Developer, create_gitops_repo
from gitbot.sim.prometheus import PrometheusServer
from gitbot.sim.scenario import Scenario
from gitbot.sim.world import CONFIG, DEFAULT_SCENARIO
from gitbot.wiring import App, build_app

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

KEY = "test/podinfo"
GOLDEN = Path(__file__).parent / "data" / "golden" / "flux_two_clusters_layout.txt"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout


def two_cluster_repo(base: Path) -> Developer:
    """gitops-istio-like, with its cluster directory copied to clusters/eu and clusters/us."""
    dev = create_gitops_repo(base, flux=True)
    apps = (dev.clone / "clusters/sim/apps.yaml").read_text(encoding="utf-8")
    _git(dev.clone, "rm", "-q", "-r", "clusters/sim")
    for name in ("eu", "us"):
        (dev.clone / "clusters" / name).mkdir(parents=True)
        (dev.clone / "clusters" / name / "apps.yaml").write_text(apps, encoding="utf-8")
    _git(dev.clone, "add", "-A")
    _git(dev.clone, "commit", "-q", "-m", "Serve two clusters from one repository")
    _git(dev.clone, "push", "-q", "origin", "HEAD:main")
    return dev


def config(dev: Developer, base: Path, prometheus: str, cluster: str) -> Path:
    path = base / f"config-{cluster}.yaml"
    path.write_text(CONFIG.format(remote=dev.remote, workdir=base / f"work-{cluster}",
                                  prometheus=prometheus, mode="push")
                    + f"flux:\n  cluster: clusters/{cluster}\n  clusterLabels:\n"
                      f"    cluster: {cluster}\n", encoding="utf-8")
    return path


def state(app: App) -> RolloutState:
    return app.store.load(KEY) or RolloutState()


def run_until_initialized(app: App, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while state(app).phase.value != "Initialized":
        app.reconciler.run_pass()
        assert time.monotonic() < deadline, [e.message for e in state(app).events[-5:]]
        time.sleep(0.5)


def eu_gate(app: App) -> bool:
    """The applied-revision gate of eu's gitbot for its canary, as its observer asks it."""
    cluster = "clusters/eu"
    app.workspace.sync()
    specs = load_repository(app.workspace.root, cluster=cluster)
    [canary] = specs.canaries
    history = for_cluster(tick_history(app.workspace, KEY, None, cluster), cluster)
    return app.reconciler.observer.sync.cluster_synced(
        canary, history, datetime.now(UTC), applying_kustomizations(specs.flux, canary))


def tree(dev: Developer, *roots: str) -> list[str]:
    dev.pull()
    return sorted(_git(dev.clone, "ls-files", *roots).splitlines())


@dataclass
class TwoClusters:
    """The repository, both simulated clusters, the shared Prometheus and both gitbots."""

    dev: Developer
    eu: SimCluster
    us: SimCluster
    prometheus: PrometheusServer
    apps: dict[str, App]


@contextmanager
def two_clusters(tmp_path: Path) -> Iterator[TwoClusters]:
    dev = two_cluster_repo(tmp_path)
    scenario = Scenario.from_mapping(DEFAULT_SCENARIO)
    with ExitStack() as stack:
        eu, us = (stack.enter_context(SimCluster(str(dev.remote), "main", scenario=scenario,
                                                 flux_interval=0.3, request_rate=40.0,
                                                 flux_cluster=f"clusters/{name}"))
                  for name in ("eu", "us"))
        prometheus = stack.enter_context(PrometheusServer(
            [(eu.metrics_address, {"cluster": "eu"}), (us.metrics_address, {"cluster": "us"})]))
        prometheus.wait_for_data('kube_deployment_spec_replicas{cluster="us"}', timeout=60)
        apps = {}
        for name in ("eu", "us"):
            apps[name] = build_app(load_settings(config(dev, tmp_path, prometheus.url, name)))
            stack.callback(apps[name].close)
        yield TwoClusters(dev, eu, us, prometheus, apps)


def test_each_gitbot_sees_and_moves_only_its_own_cluster(tmp_path: Path) -> None:
    with two_clusters(tmp_path) as world:
        dev, eu, us, prometheus, apps = (world.dev, world.eu, world.us, world.prometheus,
                                         world.apps)
        eu.pause_flux()  # eu's Flux lags; us's applies everything at once
        apps["eu"].reconciler.run_pass()
        [first] = [s for s in dev.log_subjects() if s.startswith("podinfo.test:")]
        assert first == "podinfo.test: initialize: generate podinfo-primary"
        head = _git(dev.clone, "rev-parse", "HEAD").strip()
        assert us.wait_applied(head, 10)
        prometheus.wait_for_data(
            f'gotk_resource_info{{cluster="us",revision="main@sha1:{head}"}}', timeout=30)
        assert not eu_gate(apps["eu"])  # us has applied it, eu has not: eu's gate holds
        for _ in range(2):
            apps["eu"].reconciler.run_pass()
        assert len([s for s in dev.log_subjects() if s.startswith("podinfo.test:")]) == 1
        assert us.deployment("test", "podinfo-primary") is None  # not us's primary
        eu.resume_flux()
        assert eu.wait_applied(head, 10)
        prometheus.wait_for_data(
            f'gotk_resource_info{{cluster="eu",name="gitbot-apps",revision="main@sha1:{head}"}}',
            timeout=30)
        assert eu_gate(apps["eu"])
        run_until_initialized(apps["eu"])
        assert eu.deployment("test", "podinfo").replicas == 0  # type: ignore[union-attr]
        assert us.deployment("test", "podinfo").replicas == 2  # type: ignore[union-attr]
        assert state(apps["us"]).phase.value == "Initializing" or not apps["us"].store.load(KEY)

        run_until_initialized(apps["us"])
        assert us.deployment("test", "podinfo-primary") is not None
        assert us.deployment("test", "podinfo").replicas == 0  # type: ignore[union-attr]
        assert state(apps["eu"]).phase.value == "Initialized"
        assert layout(dev) == GOLDEN.read_text(encoding="utf-8")
        branches = _git(dev.remote, "branch", "--list", "gitbot/*").split()
        assert {"gitbot/state-clusters-eu", "gitbot/state-clusters-us"} <= set(branches)


def layout(dev: Developer) -> str:
    """The repository's files, and the text of the cluster directories' (where gitbot adds
    its Flux Kustomization and sets the shared target's replicas per cluster)."""
    files = tree(dev, "clusters", "gitbot", "apps")
    shown = [f"--- {rel}\n{dev.read(rel)}" for rel in files if rel.startswith("clusters/")]
    return "\n".join(files) + "\n\n" + "".join(shown)


def test_one_release_runs_one_analysis_per_cluster_with_interleaved_commits(
        tmp_path: Path) -> None:
    """Both clusters build `./apps`: one `images:` release starts an analysis in each; the two
    gitbots' commits interleave on one branch and each run goes to the end on its own."""
    with two_clusters(tmp_path) as world:
        for app in world.apps.values():
            run_until_initialized(app)
        world.dev.release("6.0.1")
        deadline = time.monotonic() + 300
        while {state(app).phase.value for app in world.apps.values()} != {"Succeeded"}:
            for app in world.apps.values():
                app.reconciler.run_pass()
            assert time.monotonic() < deadline, {n: state(a).events[-3:]
                                                 for n, a in world.apps.items()}
            time.sleep(1.0)
        for cluster in (world.eu, world.us):  # Flux applies the last scale-down shortly after
            while cluster.deployment("test", "podinfo").replicas != 0:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the scale-down commit was never applied"
                time.sleep(0.2)
        for cluster in (world.eu, world.us):
            primary = cluster.deployment("test", "podinfo-primary")
            assert primary is not None and primary.images[0] == f"{IMAGE}:6.0.1"
            assert cluster.deployment("test", "podinfo").replicas == 0  # type: ignore[union-attr]
        workspace = world.apps["eu"].workspace
        workspace.sync()
        owners = [c.trailers["Gitbot-Cluster"][-1] for c in reversed(workspace.log(500))
                  if c.trailers.get("Gitbot-Cluster")]
        runs = {name: [o for o in owners if o == f"clusters/{name}"] for name in ("eu", "us")}
        assert len(runs["eu"]) == len(runs["us"]) == 2 + 9  # initialization, one full run each
        switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
        assert switches >= 3  # the runs' commits interleave
