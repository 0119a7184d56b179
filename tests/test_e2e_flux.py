"""End to end on a gitops-istio-like layout: a Flux Kustomization, an `images: newTag` release
and a patch-injected sidecar, the simulated cluster applying each Kustomization's rendered
output, a real Prometheus. The release runs a full analysis; the primary keeps the promoted
template until the promote commit and carries the sidecar."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import PROMOTION_SUBJECTS, STEP_SUBJECTS, render_commit

from gitbot.adapters.render import FluxView, render_repository
from gitbot.sim.gitops import IMAGE
from gitbot.sim.gitops_flux import KUSTOMIZATION_FILE, PROXY_IMAGE
from gitbot.sim.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

SUBJECTS = STEP_SUBJECTS + PROMOTION_SUBJECTS


def deployment(view: FluxView, name: str) -> dict[str, Any]:
    found = view.find("Deployment", name, "test")
    assert len(found) == 1, name
    return dict(found[0].obj["spec"])


def images(spec: dict[str, Any]) -> list[str]:
    return [c["image"] for c in spec["template"]["spec"]["containers"]]


def test_images_release_is_analysed_and_promoted_with_the_sidecar(tmp_path: Path) -> None:
    with World(tmp_path, flux=True) as world:
        world.run_until({"Initialized"}, timeout=60)
        assert world.gitbot_subjects()[:2] == [
            "podinfo.test: initialize: generate podinfo-primary",
            "podinfo.test: initialize: route all traffic to podinfo-primary, scale podinfo to 0"]
        world.dev.release("6.0.1")
        world.run_until({"Succeeded"})
        assert world.gitbot_subjects()[2:] == SUBJECTS
        primary = world.cluster.deployment("test", "podinfo-primary")
        assert primary is not None and primary.images == (f"{IMAGE}:6.0.1", PROXY_IMAGE)
        log = subprocess.run(["git", "-C", str(world.dev.clone), "log", "--reverse",
                              "--format=%H %s", "main"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    seen = []
    for number, line in enumerate(log):
        sha, subject = line.split(" ", 1)
        view = render_commit(world.dev.clone, sha, tmp_path / f"at-{number}")
        if not view.find("Deployment", "podinfo-primary", "test"):
            continue
        primary_spec = deployment(view, "podinfo-primary")
        seen.append((subject, images(primary_spec)[0].rsplit(":", 1)[1],
                     images(deployment(view, "podinfo"))[0].rsplit(":", 1)[1],
                     deployment(view, "podinfo").get("replicas")))
        assert images(primary_spec)[1] == PROXY_IMAGE, subject  # the patch reached the primary
        labels = primary_spec["template"]["metadata"]["labels"]
        assert labels == {"app": "podinfo-primary", "security.istio.io/tlsMode": "istio"}
    assert seen == [
        ("podinfo.test: initialize: generate podinfo-primary", "6.0.0", "6.0.0", 2),
        ("podinfo.test: initialize: route all traffic to podinfo-primary, scale podinfo to 0",
         "6.0.0", "6.0.0", 0),
        ("Release podinfo 6.0.1", "6.0.0", "6.0.1", 0),
        ("podinfo.test: scale up canary", "6.0.0", "6.0.1", 2),
        *[(f"podinfo.test: advance canary weight {w}", "6.0.0", "6.0.1", 2)
          for w in (10, 20, 30, 40, 50)],
        ("podinfo.test: promote: copy podinfo template spec to podinfo-primary", "6.0.1",
         "6.0.1", 2),
        ("podinfo.test: route all traffic to primary", "6.0.1", "6.0.1", 2),
        ("podinfo.test: scale down canary", "6.0.1", "6.0.1", 0),
    ]


def test_images_release_with_errors_rolls_back_and_the_primary_never_changes(
        tmp_path: Path) -> None:
    with World(tmp_path, flux=True) as world:
        world.run_until({"Initialized"}, timeout=60)
        world.dev.release("6.0.2")  # 30 % errors in the scenario
        world.run_until({"Failed"})
        subjects = world.gitbot_subjects()
        assert subjects[-1].startswith("podinfo.test: rollback: revert "), subjects
        assert not any("promote" in s for s in subjects)
        primary = world.cluster.deployment("test", "podinfo-primary")
        assert primary is not None and primary.images == (f"{IMAGE}:6.0.0", PROXY_IMAGE)
        world.dev.pull()
        head = render_repository(world.dev.clone)
    assert head is not None
    assert images(deployment(head, "podinfo-primary")) == [f"{IMAGE}:6.0.0", PROXY_IMAGE]
    assert deployment(head, "podinfo").get("replicas") == 0
    routes = head.find("VirtualService", "podinfo", "test")[0].obj["spec"]["http"][0]["route"]
    assert [r["weight"] for r in routes] == [100, 0]


DEFEATING_PATCH = """\
  - target:
      kind: Deployment
      name: podinfo
    patch: |-
      - op: add
        path: /spec/replicas
        value: 3
"""


def test_a_team_patch_defeating_the_scale_to_zero_is_reported_not_committed(
        tmp_path: Path) -> None:
    with World(tmp_path, flux=True) as world:
        text = world.dev.read(KUSTOMIZATION_FILE)
        world.dev.commit_files({KUSTOMIZATION_FILE: text + DEFEATING_PATCH},
                               "Pin podinfo to 3 replicas")
        deadline = time.monotonic() + 90
        errors: list[str] = []
        while not errors and time.monotonic() < deadline:
            errors = [t.error for t in world.reconcile().ticks if t.error]
            if not errors:
                time.sleep(world.pace)
        assert errors, "the routing commit was never attempted"
        assert "Deployment test/podinfo: spec.replicas: gitbot set 0 but Flux would apply 3, " \
            "overridden by one of apps/podinfo/kustomization.yaml:" in errors[0]
        assert errors[0].endswith("nothing committed")
        assert world.gitbot_subjects() == ["podinfo.test: initialize: generate podinfo-primary"]
        assert world.state().phase.value == "Initializing"
