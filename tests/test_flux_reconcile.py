"""`reconcile --once` through Git on real layouts: the first initialization commit writes the
primary alone into gitbot's own directory with its Flux Kustomization (routing waits for the
cluster to run a ready primary: with Prometheus a closed port, it waits); two clusters sharing
one app path initialize separately."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cliconfig import closed_port

from gitbot.cli import cli

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def remote_with(tmp_path: Path) -> tuple[Path, Path]:
    remote, clone = tmp_path / "gitops.git", tmp_path / "developer"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    shutil.copytree(LAYOUTS / "gitops-istio", clone)
    _git(clone, "init", "-q", "-b", "main")
    _git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q",
         "--allow-empty", "-m", "empty")
    _git(clone, "add", "-A")
    _git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q",
         "-m", "gitops-istio")
    _git(clone, "push", "-q", str(remote), "HEAD:main")
    closed = closed_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"git:\n  url: {remote}\n  branch: main\n  workdir: {tmp_path / 'work'}\n"
                      f"flux:\n  cluster: clusters/my-cluster\n"
                      f"prometheus:\n  url: http://127.0.0.1:{closed}\n  timeout: 1\n")
    return remote, config


@pytest.mark.timeout(120)
def test_initialization_commits_the_primary_alone_first(tmp_path: Path) -> None:
    remote, config = remote_with(tmp_path)
    for _ in range(2):  # the second pass waits: Prometheus cannot say the primary is ready
        result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"],
                                    catch_exceptions=False)
        assert result.stdout.startswith("prod/backend: Initializing"), result.output
    assert _git(remote, "log", "-1", "--format=%s", "main") == (
        "backend.prod: initialize: generate backend-primary")
    files = _git(remote, "show", "--name-only", "--format=", "main").splitlines()
    assert sorted(files) == [
        "clusters/my-cluster/gitbot-apps.yaml",
        "gitbot/clusters/my-cluster/apps/backend-primary.yaml",
        "gitbot/clusters/my-cluster/apps/kustomization.yaml",
    ]
    body = _git(remote, "log", "-1", "--format=%B", "main")
    assert "Gitbot-Canary: prod/backend" in body
    assert "Gitbot-Cluster: clusters/my-cluster" in body


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
    closed = closed_port()
    for cluster in ("dev", "staging"):
        config = tmp_path / f"{cluster}.yaml"
        config.write_text(f"git:\n  url: {remote}\n  branch: main\n"
                          f"  workdir: {tmp_path / cluster}\n"
                          f"flux:\n  cluster: clusters/{cluster}\n"
                          f"prometheus:\n  url: http://127.0.0.1:{closed}\n  timeout: 1\n")
        result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"],
                                    catch_exceptions=False)
        assert result.stdout.startswith("test/podinfo: Initializing — committed "), (
            result.output)
        files = _git(remote, "show", "--name-only", "--format=", "main").splitlines()
        assert sorted(files) == [
            f"clusters/{cluster}/gitbot-podinfo.yaml",
            f"gitbot/clusters/{cluster}/podinfo/kustomization.yaml",
            f"gitbot/clusters/{cluster}/podinfo/podinfo-primary.yaml",
        ]
        trailers = _git(remote, "log", "-1", "--format=%B", "main")
        assert f"Gitbot-Cluster: clusters/{cluster}" in trailers
    branches = _git(remote, "branch", "--format=%(refname:short)").splitlines()
    assert sorted(branches) == ["gitbot/state-clusters-dev", "gitbot/state-clusters-staging",
                                "main"]


OCI_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: platform
  namespace: flux-system
spec:
  interval: 10m
  path: ./
  prune: true
  sourceRef:
    kind: OCIRepository
    name: platform
"""


@pytest.mark.timeout(120)
def test_kustomizations_of_other_sources_are_noted_once_and_the_rest_reconciled(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from gitbot.config import load_settings
    from gitbot.wiring import build_app

    remote, config = remote_with(tmp_path)
    clone = tmp_path / "developer"
    (clone / "clusters/my-cluster/platform.yaml").write_text(OCI_KUSTOMIZATION)
    _git(clone, "add", "-A")
    _git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q",
         "-m", "platform from an OCI artifact")
    _git(clone, "push", "-q", str(remote), "HEAD:main")
    app = build_app(load_settings(config))
    try:
        with caplog.at_level("INFO", logger="gitbot.reconciler"):
            first = app.reconciler.run_pass()
            app.reconciler.run_pass()
    finally:
        app.close()
    assert [t.canary for t in first.ticks] == ["prod/backend"]
    noted = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert noted == ["clusters/my-cluster/platform.yaml:1: Kustomization flux-system/platform: "
                     "skipped: its source OCIRepository/flux-system/platform is not the "
                     "repository's GitRepository/flux-system/flux-system; gitbot does not see "
                     "what it applies"]
