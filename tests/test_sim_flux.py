"""SimCluster's Flux and Deployments end to end: intervals, pauses, broken manifests."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from test_sim_support import (
    DATA,
    NS,
    GitOpsRepo,
    dest,
    flux_info,
    podinfo,
    ready,
    requests_to,
    start_clusters,
    total,
    vs,
    wait_for,
    window,
)

from gitbot.sim.cluster import SimCluster
from gitbot.sim.flux import FluxSync, GitMirror
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


def test_flux_applies_a_new_commit_only_after_its_interval(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    first = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = start(flux_interval=0.8)
    assert cluster.wait_applied(first, 30)
    second = repo.commit("50/50", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
    assert not cluster.wait_applied(second, 0.5)
    assert cluster.applied_revision == first
    assert [i["revision"] for i in flux_info(cluster)] == [f"main@sha1:{first}"]
    assert cluster.wait_applied(second, 30)
    info = flux_info(cluster)
    assert len(info) == 1
    assert info[0]["revision"] == f"main@sha1:{second}"
    assert (info[0]["customresource_kind"], info[0]["name"], info[0]["exported_namespace"],
            info[0]["ready"]) == ("Kustomization", "flux-system", "flux-system", "True")


def test_paused_flux_applies_nothing_until_resumed(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    first = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = start()
    assert cluster.wait_applied(first, 30)
    cluster.pause_flux()
    second = repo.commit("50/50", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
    assert not cluster.wait_applied(second, 0.4)
    cluster.set_flux_interval(0.3)
    cluster.resume_flux()
    started = time.monotonic()
    assert cluster.wait_applied(second, 30)
    assert time.monotonic() - started >= 0.25


def test_pausing_waits_for_an_apply_under_way_and_then_nothing_is_applied(
    repo: GitOpsRepo,
) -> None:
    first = repo.copy_tree(DATA / "podinfo", "podinfo")
    entered, release, applied = threading.Event(), threading.Event(), []

    def slow_apply(_objects: object, sha: str) -> None:
        entered.set()
        release.wait(30)
        applied.append(sha)

    mirror = GitMirror(str(repo.remote), "main")
    try:
        sync = FluxSync(mirror, slow_apply, interval=0)
        poller = threading.Thread(target=sync.poll)
        poller.start()
        assert entered.wait(30)
        pauser = threading.Thread(target=sync.set_paused, args=(True,))
        pauser.start()
        pauser.join(0.3)
        assert pauser.is_alive()  # the pause waits for the apply under way
        release.set()
        poller.join(30)
        pauser.join(30)
        assert not pauser.is_alive() and sync.status().applied_sha == first
        second = repo.commit("50/50", {"virtualservice.yaml": vs(
            {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
        sync.poll()  # paused: neither fetched nor applied
        assert applied == [first] and sync.status().applied_sha == first
        sync.set_paused(False)
        sync.poll()
        assert applied == [first, second]
    finally:
        release.set()
        mirror.close()


def test_broken_manifest_keeps_the_last_good_revision(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    good = repo.copy_tree(DATA / "podinfo", "podinfo")
    cluster = start()
    assert cluster.wait_applied(good, 30)
    broken = repo.commit("broken", {"virtualservice.yaml": "spec: [unclosed\n"})
    wait_for(lambda: not cluster.flux_status().ready)
    assert cluster.applied_revision == good
    assert "virtualservice.yaml" in cluster.flux_status().error
    assert [(i["revision"], i["ready"]) for i in flux_info(cluster)] == [
        (f"main@sha1:{good}", "False")]
    fixed = repo.commit("fixed", {"virtualservice.yaml": vs(
        {"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)]})})
    assert cluster.wait_applied(fixed, 30)
    assert cluster.wait_applied(broken, 0.1)  # contained in the applied history
    assert cluster.flux_status().ready


def test_kustomization_resources_and_namespace_are_respected(
    repo: GitOpsRepo, start: Callable[..., SimCluster]
) -> None:
    sha = repo.copy_tree(DATA / "kustomized", "kustomized app")
    cluster = start()
    assert cluster.wait_applied(sha, 30)
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
    assert cluster.wait_applied(sha, 30)
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
    assert by_le["250"] / by_le["+Inf"] < 0.25  # log-normal p50 400, p99 900: about 9 %
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


def test_module_runs_standalone_until_sigterm(repo: GitOpsRepo) -> None:
    sha = repo.copy_tree(DATA / "podinfo", "podinfo")
    command = [sys.executable, "-m", "gitbot.sim", str(repo.remote), "--flux-interval", "0",
               "--scenario", str(DATA / "scenario.yaml")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        try:
            url = proc.stdout.readline().split("metrics: ", 1)[1].strip()
            assert f"main@sha1:{sha}" in proc.stdout.readline()
            assert "gotk_resource_info" in requests.get(url, timeout=5).text
        finally:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_a_local_remote_is_polled_from_its_ref_files_and_fetched_when_it_moved(
    repo: GitOpsRepo,
) -> None:
    first = repo.copy_tree(DATA / "podinfo", "podinfo")
    mirror = GitMirror(str(repo.remote), "main")
    try:
        assert mirror.fetch_head() == first
        git_dir = mirror.workdir / ".git"
        hidden = git_dir.rename(mirror.workdir / "hidden")
        assert mirror.fetch_head() == first  # unchanged: read from the remote's files, no git
        hidden.rename(git_dir)
        subprocess.run(["git", "--git-dir", str(repo.remote), "pack-refs", "--all"], check=True)
        assert not (repo.remote / "refs/heads/main").exists()
        assert mirror.fetch_head() == first  # from packed-refs
        second = repo.commit("50/50", {"virtualservice.yaml": vs(
            {"route": [dest("podinfo-primary", 50), dest("podinfo-canary", 50)]})})
        assert mirror.fetch_head() == second  # moved: fetched
        mirror.checkout(second)
        assert "50" in (mirror.workdir / "virtualservice.yaml").read_text()
    finally:
        mirror.close()
