"""End to end on the overlay-per-environment layout (flux2-kustomize-helm-example, podinfo's
`deploy/overlays`): one base `apps/base/podinfo` (Deployment + Canary), overlays
`apps/staging` and `apps/production` releasing by `images: newTag`, and one Flux Kustomization
per environment with its `targetNamespace`. The Canary in the base is two canaries
(`staging/podinfo`, `production/podinfo`) with separate state: releasing staging runs staging's
analysis alone; production's files, primary and state do not move. A Canary edit in the base
mid-run is committed for each environment: at staging's current weights during its run,
outside a run for production."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from gitbot.sim.gitops import IMAGE, Developer
from gitbot.sim.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

GOLDEN = Path(__file__).parent / "data" / "golden" / "flux_overlays_layout.txt"
ENVIRONMENTS = ("staging", "production")

FLUX_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps-{env}
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./apps/{env}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  targetNamespace: {env}
"""

BASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - canary.yaml
"""

OVERLAY = f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base/podinfo
images:
  - name: {IMAGE}
    newTag: 6.0.0
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout


def overlays(dev: Developer) -> None:
    """Reshape the gitops-istio-like repository into a base and two environment overlays."""
    clone = dev.clone
    deployment = (clone / "apps/podinfo/deployment.yaml").read_text(encoding="utf-8")
    canary = (clone / "apps/podinfo/canary.yaml").read_text(encoding="utf-8")
    _git(clone, "rm", "-q", "-r", "apps/podinfo", "clusters/sim/apps.yaml")
    files = {"apps/base/podinfo/kustomization.yaml": BASE,
             "apps/base/podinfo/deployment.yaml": deployment,
             "apps/base/podinfo/canary.yaml": canary}
    for env in ENVIRONMENTS:
        files[f"apps/{env}/kustomization.yaml"] = OVERLAY
        files[f"clusters/sim/apps-{env}.yaml"] = FLUX_KUSTOMIZATION.format(env=env)
    for rel, text in files.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(text, encoding="utf-8")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "One base, an overlay per environment")
    _git(clone, "push", "-q", "origin", "HEAD:main")


def phases(world: World) -> dict[str, str]:
    return {env: world.state(f"{env}/podinfo").phase.value for env in ENVIRONMENTS}


def run_until(world: World, done: dict[str, str], timeout: float = 240.0,
              on_pass: object = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        world.reconcile()
        if callable(on_pass):
            on_pass()
        if phases(world) == done:
            return
        assert time.monotonic() < deadline, (phases(world),
                                             world.state("staging/podinfo").events[-4:])
        time.sleep(world.pace)


def subjects(world: World, env: str) -> list[str]:
    return [s for s in reversed(world.dev.log_subjects()) if s.startswith(f"podinfo.{env}: ")]


def release(world: World, env: str, tag: str) -> str:
    rel = f"apps/{env}/kustomization.yaml"
    text = world.dev.read(rel)
    return world.dev.commit_files({rel: text.replace("newTag: 6.0.0", f"newTag: {tag}")},
                                  f"Release podinfo {tag} to {env}")


def layout(world: World) -> str:
    """The repository's files, and the text of what gitbot changed outside its own directory."""
    world.dev.pull()
    files = sorted(_git(world.dev.clone, "ls-files", "apps", "clusters", "gitbot").splitlines())
    shown = [f"--- {rel}\n{world.dev.read(rel)}" for rel in files
             if rel.startswith("clusters/") or rel.endswith("kustomization.yaml")]
    return "\n".join(files) + "\n\n" + "".join(shown)


def test_each_environment_rolls_out_on_its_own(tmp_path: Path) -> None:
    with World(tmp_path, flux=True, prepare=overlays, pace=1.0) as world:
        run_until(world, {"staging": "Initialized", "production": "Initialized"}, timeout=90)
        actual = layout(world)
        (tmp_path / "layout.txt").write_text(actual, encoding="utf-8")
        assert actual == GOLDEN.read_text(encoding="utf-8"), f"see {tmp_path / 'layout.txt'}"
        production_before = subjects(world, "production")
        base_before = world.dev.read("apps/base/podinfo/deployment.yaml")

        release(world, "staging", "6.0.1")
        edited: list[str] = []

        def edit_canary_mid_run() -> None:  # once staging's canary takes traffic
            state = world.state("staging/podinfo")
            if not edited and state.phase.value == "Progressing" and state.canary_weight >= 20:
                canary = world.dev.read("apps/base/podinfo/canary.yaml")
                edited.append(world.dev.commit_files(
                    {"apps/base/podinfo/canary.yaml": canary.replace("attempts: 3",
                                                                     "attempts: 5")},
                    "Retry more"))

        run_until(world, {"staging": "Succeeded", "production": "Initialized"},
                  on_pass=edit_canary_mid_run)
        assert edited, "staging's run ended before the Canary edit"
        staging = subjects(world, "staging")
        [update] = [s for s in staging if "update routing" in s]
        assert update == "podinfo.staging: update routing (retries)"
        at = staging.index(update)
        assert staging[at - 1].startswith("podinfo.staging: advance canary weight")
        assert staging[-3:] == ["podinfo.staging: promote: copy podinfo template spec to "
                                "podinfo-primary", "podinfo.staging: route all traffic to primary",
                                "podinfo.staging: scale down canary"]
        assert subjects(world, "production") == [*production_before,
                                                 "podinfo.production: update routing (retries)"]
        assert world.dev.read("apps/base/podinfo/deployment.yaml") == base_before
        staging_primary = world.cluster.deployment("staging", "podinfo-primary")
        production_primary = world.cluster.deployment("production", "podinfo-primary")
        assert staging_primary is not None and staging_primary.images == (f"{IMAGE}:6.0.1",)
        assert production_primary is not None and production_primary.images == (
            f"{IMAGE}:6.0.0",)
        production_target = world.cluster.deployment("production", "podinfo")
        assert production_target is not None and production_target.replicas == 0
        diff = _git(world.dev.clone, "log", "-1", "-p", "--format=", "--grep",
                    "update routing", "--", "gitbot/clusters/sim/apps-staging")
        changed = [line for line in diff.splitlines()
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert changed == ["-        attempts: 3", "+        attempts: 5"]  # weights untouched
