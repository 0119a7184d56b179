"""End to end on a flux2-kustomize-helm-example layout: podinfo deployed by a HelmRelease in a
base shared by the staging and production overlays (each patching the release's values), gitbot
serving clusters/production, the simulated Flux rendering each Kustomization with real
kustomize and the simulated helm-controller rendering each HelmRelease, a real Prometheus.

A values change (the production image tag) runs a full analysis; `podinfo-primary` keeps the
promoted values until the promote commit; a bad values change rolls back and never reaches the
primary; the base and the staging overlay are never touched."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import render_commit

from gitbot.adapters.render import FluxView
from gitbot.core.helm_apex import apex_selector
from gitbot.core.helm_scale import scaled_replicas
from gitbot.sim.gitops import IMAGE
from gitbot.sim.gitops_helm import CLUSTER
from gitbot.sim.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

PREFIX = "podinfo.podinfo: "
INIT = [PREFIX + "initialize: generate podinfo-primary",
        PREFIX + "initialize: route all traffic to podinfo-primary, scale podinfo to 0"]
RUN = [PREFIX + s for s in (
    "scale up canary",
    *(f"advance canary weight {w}" for w in (10, 20, 30, 40, 50)),
    "promote: copy podinfo template spec to podinfo-primary",
    "route all traffic to primary",
    "scale down canary")]
SHARED = ("apps/base/", "apps/staging/", "clusters/staging/")
APEX = ("podinfo", {"app.kubernetes.io/name": "podinfo",
                    "app.kubernetes.io/instance": "podinfo-primary"})


def commits(clone: Path) -> list[tuple[str, str]]:
    out = subprocess.run(["git", "-C", str(clone), "log", "--reverse", "--format=%H %s", "main"],
                         check=True, capture_output=True, text=True).stdout
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in out.splitlines()]


def changed_files(clone: Path, sha: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(clone), "show", "--format=", "--name-only", sha],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def release(view: FluxView, name: str) -> dict[str, Any] | None:
    found = view.find("HelmRelease", name, "podinfo")
    return dict(found[0].obj) if found else None


def tag(doc: dict[str, Any]) -> str:
    return str(doc["spec"]["values"]["image"]["tag"])


def history(world: World, base: Path) -> list[tuple[str, str, str, int | None]]:
    """Per commit since the primary exists: (subject, primary tag, team tag, gitbot's replicas);
    from the second initialization commit on, the chart's Service podinfo selects the primary's
    pods (gitbot's apex entry)."""
    seen = []
    for number, (sha, subject) in enumerate(commits(world.dev.clone)):
        if subject.startswith(PREFIX):
            assert not [f for f in changed_files(world.dev.clone, sha) if f.startswith(SHARED)]
        view = render_commit(world.dev.clone, sha, base / f"at-{number}", CLUSTER)
        primary, team = release(view, "podinfo-primary"), release(view, "podinfo")
        assert team is not None
        if primary is not None:
            assert primary["spec"]["values"]["fullnameOverride"] == "podinfo-primary"
            assert "postRenderers" not in primary["spec"]  # gitbot's entries: the team's only
            assert apex_selector(team) == (None if subject == INIT[0] else APEX), subject
            seen.append((subject, tag(primary), tag(team), scaled_replicas(team)))
    return seen


def test_values_change_is_analysed_and_promoted_into_the_primary_release(
        tmp_path: Path) -> None:
    with World(tmp_path, flux="helm") as world:
        world.run_until({"Initialized"}, timeout=60)
        assert world.gitbot_subjects() == INIT
        assert world.cluster.wait_applied(commits(world.dev.clone)[-1][0], timeout=30)
        assert world.cluster.service_backend("podinfo", "podinfo") == "podinfo-primary"
        world.dev.release("6.0.1")
        world.run_until({"Succeeded"})
        assert world.gitbot_subjects() == INIT + RUN
        assert world.cluster.wait_applied(commits(world.dev.clone)[-1][0], timeout=30)
        primary = world.cluster.deployment("podinfo", "podinfo-primary")
        assert primary is not None and primary.images == (f"{IMAGE}:6.0.1",)
        assert primary.replicas == 2
        canary = world.cluster.deployment("podinfo", "podinfo")
        assert canary is not None and canary.replicas == 0
        assert world.cluster.service_backend("podinfo", "podinfo") == "podinfo-primary"
        seen = history(world, tmp_path / "render")
    assert seen == [
        (INIT[0], "6.0.0", "6.0.0", None),
        (INIT[1], "6.0.0", "6.0.0", 0),
        ("Release podinfo 6.0.1", "6.0.0", "6.0.1", 0),
        (RUN[0], "6.0.0", "6.0.1", None),
        *[(subject, "6.0.0", "6.0.1", None) for subject in RUN[1:6]],
        (RUN[6], "6.0.1", "6.0.1", None),  # the promote commit: the primary changes here
        (RUN[7], "6.0.1", "6.0.1", None),
        (RUN[8], "6.0.1", "6.0.1", 0),
    ]


def test_bad_values_change_rolls_back_and_the_primary_release_never_changes(
        tmp_path: Path) -> None:
    with World(tmp_path, flux="helm") as world:
        world.run_until({"Initialized"}, timeout=60)
        world.dev.release("6.0.2")  # 30 % errors in the scenario
        world.run_until({"Failed"})
        subjects = world.gitbot_subjects()
        assert subjects[-1].startswith(PREFIX + "rollback: revert "), subjects
        assert not any("promote" in s for s in subjects)
        assert world.cluster.wait_applied(commits(world.dev.clone)[-1][0], timeout=30)
        primary = world.cluster.deployment("podinfo", "podinfo-primary")
        assert primary is not None and primary.images == (f"{IMAGE}:6.0.0",)
        canary = world.cluster.deployment("podinfo", "podinfo")
        assert canary is not None and canary.replicas == 0
        assert world.cluster.service_backend("podinfo", "podinfo") == "podinfo-primary"
        seen = history(world, tmp_path / "render")
    assert {primary_tag for _s, primary_tag, _t, _r in seen} == {"6.0.0"}
    assert seen[-1][2:] == ("6.0.2", 0)  # the team's values stay; the canary is at 0
