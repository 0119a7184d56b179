"""`reconcile --once` through Git on the real gitops-istio layout: initialization writes gitbot's
own directory and Flux Kustomization; a team patch that would defeat the change is reported and
nothing is committed. Prometheus is a closed port (initialization does not need it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.cli import cli

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"
REPLICAS_PATCH = ("patches:\n  - target:\n      kind: Deployment\n      name: backend\n"
                  "    patch: |-\n      - op: add\n        path: /spec/replicas\n"
                  "        value: 2\n")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def remote_with(tmp_path: Path, extra_patch: bool) -> tuple[Path, Path]:
    remote, clone = tmp_path / "gitops.git", tmp_path / "developer"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    shutil.copytree(LAYOUTS / "gitops-istio", clone)
    if extra_patch:
        kustomization = clone / "apps/backend/kustomization.yaml"
        kustomization.write_text(kustomization.read_text() + REPLICAS_PATCH)
    _git(clone, "init", "-q", "-b", "main")
    _git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q",
         "--allow-empty", "-m", "empty")
    _git(clone, "add", "-A")
    _git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q",
         "-m", "gitops-istio")
    _git(clone, "push", "-q", str(remote), "HEAD:main")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"git:\n  url: {remote}\n  branch: main\n  workdir: {tmp_path / 'work'}\n"
                      f"flux:\n  cluster: clusters/my-cluster\n"
                      f"prometheus:\n  url: http://127.0.0.1:{closed}\n  timeout: 1\n")
    return remote, config


@pytest.mark.timeout(120)
def test_initialization_commits_gitbot_directory_and_flux_kustomization(tmp_path: Path) -> None:
    remote, config = remote_with(tmp_path, extra_patch=False)
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"],
                                catch_exceptions=False)
    assert result.stdout.startswith("prod/backend: Initialized — committed "), result.output
    files = _git(remote, "show", "--name-only", "--format=", "main").splitlines()
    assert sorted(files) == [
        "apps/backend/deployment.yaml",
        "clusters/my-cluster/gitbot-apps.yaml",
        "gitbot/clusters/my-cluster/apps/backend-primary.yaml",
        "gitbot/clusters/my-cluster/apps/backend-routing.yaml",
        "gitbot/clusters/my-cluster/apps/backend-services.yaml",
        "gitbot/clusters/my-cluster/apps/kustomization.yaml",
    ]
    assert "Gitbot-Canary: prod/backend" in _git(remote, "log", "-1", "--format=%B", "main")


@pytest.mark.timeout(120)
def test_a_defeating_patch_is_reported_and_nothing_is_committed(tmp_path: Path) -> None:
    remote, config = remote_with(tmp_path, extra_patch=True)
    before = _git(remote, "rev-parse", "main")
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _git(remote, "rev-parse", "main") == before
    assert ("prod/backend:  — error: apps/backend/deployment.yaml:1: Deployment prod/backend: "
            "spec.replicas: gitbot set 0 but Flux would apply 2, overridden by one of "
            "apps/backend/kustomization.yaml:19: patches[0]; apps/backend/kustomization.yaml:12:"
            " patchesJson6902[0]; nothing committed") in result.output
    work = tmp_path / "work"
    assert _git(work, "status", "--porcelain") == ""
    assert not (work / "gitbot").exists()


@pytest.mark.timeout(180)
def test_two_clusters_sharing_an_app_path_initialize_separately(tmp_path: Path) -> None:
    remote, clone = tmp_path / "gitops.git", tmp_path / "developer"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    shutil.copytree(LAYOUTS / "podinfo", clone)
    (clone / "kustomize/canary.yaml").write_text(
        (Path(__file__).parent / "data/flux_canary_backend.yaml").read_text()
        .replace("backend", "podinfo"))
    kustomization = clone / "kustomize/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - canary.yaml\n")
    (clone / "clusters/staging").mkdir()
    shutil.copy(clone / "clusters/dev/podinfo.yaml", clone / "clusters/staging/podinfo.yaml")
    _git(clone, "init", "-q", "-b", "main")
    _git(clone, "add", "-A")
    _git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q",
         "-m", "podinfo in two clusters")
    _git(clone, "push", "-q", str(remote), "HEAD:main")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for cluster in ("dev", "staging"):
        config = tmp_path / f"{cluster}.yaml"
        config.write_text(f"git:\n  url: {remote}\n  branch: main\n"
                          f"  workdir: {tmp_path / cluster}\n"
                          f"flux:\n  cluster: clusters/{cluster}\n"
                          f"prometheus:\n  url: http://127.0.0.1:{closed}\n  timeout: 1\n")
        result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"],
                                    catch_exceptions=False)
        assert result.stdout.startswith("test/podinfo: Initialized — committed "), result.output
        files = _git(remote, "show", "--name-only", "--format=", "main").splitlines()
        assert sorted(files) == [
            f"clusters/{cluster}/gitbot-podinfo.yaml",
            f"clusters/{cluster}/podinfo.yaml",  # replicas: kustomize/ is built by both clusters
            f"gitbot/clusters/{cluster}/podinfo/kustomization.yaml",
            f"gitbot/clusters/{cluster}/podinfo/podinfo-primary.yaml",
            f"gitbot/clusters/{cluster}/podinfo/podinfo-routing.yaml",
            f"gitbot/clusters/{cluster}/podinfo/podinfo-services.yaml",
        ]
        trailers = _git(remote, "log", "-1", "--format=%B", "main")
        assert f"Gitbot-Cluster: clusters/{cluster}" in trailers
    branches = _git(remote, "branch", "--format=%(refname:short)").splitlines()
    assert sorted(branches) == ["gitbot/state-clusters-dev", "gitbot/state-clusters-staging",
                                "main"]
