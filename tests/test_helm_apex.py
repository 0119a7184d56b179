"""gitbot's apex Service entry on a HelmRelease (gitbot.core.helm_apex, helm_edit): which pods
the chart's Service `<svc>` selects (the primary release's), the entry's text read back, the
release-file edit kept apart from the scaling entry (golden file), and the simulated
helm-controller (`gitbot.sim.helm`, written independently of gitbot's naming rules) rendering
the Service with the primary Deployment's pod labels."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitbot.adapters import helm_edit
from gitbot.core import helm
from gitbot.core.helm_apex import (
    apex_entry_data,
    apex_overlay_ops,
    apex_selector,
    is_apex_entry,
    primary_selector,
)
from gitbot.core.helm_primary import (
    is_gitbot_entry,
    is_replicas_entry,
    plain,
    primary_release,
)
from gitbot.core.helm_scale import overlay_patch_ops, replicas_entry_data, scaled_replicas
from gitbot.sim.helm import render_release

DATA = Path(__file__).parent / "data" / "helm"
UPDATE = os.environ.get("GITBOT_UPDATE_GOLDEN") == "1"
PRIMARY = {"app.kubernetes.io/name": "podinfo", "app.kubernetes.io/instance": "podinfo-primary"}


def load(name: str) -> dict[str, Any]:
    docs = [d for d in YAML(typ="safe").load_all((DATA / name).read_text()) if d]
    return dict(docs[0])


def assert_golden(name: str, text: str) -> None:
    path = DATA / "golden" / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), name


def team_and_primary(release: dict[str, Any], target: str) -> tuple[dict[str, Any], ...]:
    return release, primary_release(release, target, helm.DEFAULT_NAME_PATH)


@pytest.mark.parametrize(("chosen", "expected"), [
    pytest.param((), PRIMARY, id="convention-podinfo"),
    pytest.param((("app", "podinfo"),), {"app": "podinfo-primary"}, id="override-release-name"),
    pytest.param((("app.kubernetes.io/instance", "podinfo"), ("tier", "web")),
                 {"app.kubernetes.io/instance": "podinfo-primary", "tier": "web"},
                 id="override-keeps-other-labels"),
    pytest.param((("tier", "web"),), None, id="override-naming-neither-release-nor-target"),
])
def test_primary_selector(chosen: tuple[tuple[str, str], ...],
                          expected: dict[str, str] | None) -> None:
    team, primary = team_and_primary(load("team-postrenderers.yaml"), "podinfo")
    assert primary_selector(team, primary, "podinfo", chosen) == expected


def test_primary_selector_maps_the_target_name_and_bitnami_release_name() -> None:
    team, primary = team_and_primary(load("bitnami-release.yaml"), "shop-web")
    assert primary_selector(team, primary, "shop-web") == {
        "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "shop-web-primary"}
    assert primary_selector(team, primary, "shop-web", (("app", "shop-web"),)) == {
        "app": "shop-web-primary"}


def test_entries_are_told_apart_and_read_back() -> None:
    apex = apex_entry_data("podinfo", {"app": "true", "n": "1"})
    scaling = replicas_entry_data("podinfo", 0)
    assert (is_apex_entry(apex), is_replicas_entry(apex), is_gitbot_entry(apex)) == (
        True, False, True)
    assert (is_apex_entry(scaling), is_replicas_entry(scaling), is_gitbot_entry(scaling)) == (
        False, True, True)
    release = {"spec": {"postRenderers": [apex, scaling]}}
    assert apex_selector(release) == ("podinfo", {"app": "true", "n": "1"})  # quoted strings
    assert scaled_replicas(release) == 0
    assert apex_selector({"spec": {"postRenderers": [scaling]}}) is None


def test_the_primary_copies_neither_gitbot_entry() -> None:
    team = load("team-postrenderers.yaml")
    own = list(team["spec"]["postRenderers"])
    team["spec"]["postRenderers"] += [apex_entry_data("podinfo", PRIMARY),
                                      replicas_entry_data("podinfo", 0)]
    primary = primary_release(team, "podinfo", helm.DEFAULT_NAME_PATH)
    assert primary["spec"]["postRenderers"] == own


def test_overlay_operations_append_after_team_entries_and_after_the_apex_item() -> None:
    team = load("team-postrenderers.yaml")
    bare = {"spec": {}}
    assert apex_overlay_ops(team, "podinfo", PRIMARY)[0]["path"] == "/spec/postRenderers/-"
    assert apex_overlay_ops(bare, "podinfo", PRIMARY)[0]["path"] == "/spec/postRenderers"
    assert overlay_patch_ops(bare, "podinfo", 0)[0]["path"] == "/spec/postRenderers"
    assert overlay_patch_ops(bare, "podinfo", 0, after_apex=True)[0]["path"] == (
        "/spec/postRenderers/-")


def test_release_file_keeps_the_apex_entry_when_the_canary_scales_up(tmp_path: Path) -> None:
    path = tmp_path / "release.yaml"
    shutil.copy(DATA / "team-postrenderers.yaml", path)
    original = path.read_text()
    assert helm_edit.set_apex_selector(tmp_path, "release.yaml", "podinfo", "podinfo", PRIMARY)
    with_apex = path.read_text()
    assert with_apex.startswith(original)  # only lines appended after the team's entry
    assert not helm_edit.set_apex_selector(tmp_path, "release.yaml", "podinfo", "podinfo",
                                           PRIMARY)
    assert helm_edit.set_canary_replicas(tmp_path, "release.yaml", "podinfo", "podinfo", 0)
    assert_golden("team-postrenderers-apex-scaled.yaml", path.read_text())
    assert helm_edit.set_canary_replicas(tmp_path, "release.yaml", "podinfo", "podinfo", None)
    assert path.read_text() == with_apex  # the scaling entry and its comment only


def test_simulated_helm_controller_points_the_service_at_the_primary_pods() -> None:
    team = load("golden/team-postrenderers-apex-scaled.yaml")
    primary = primary_release(team, "podinfo", helm.DEFAULT_NAME_PATH)
    rendered = {(o["kind"], o["metadata"]["name"]): o
                for o in [*render_release(team), *render_release(plain(primary))]}
    pods = rendered["Deployment", "podinfo-primary"]["spec"]["template"]["metadata"]["labels"]
    assert rendered["Service", "podinfo"]["spec"]["selector"] == pods
    assert rendered["Service", "podinfo-primary"]["spec"]["selector"] == pods
    assert rendered["Deployment", "podinfo"]["spec"]["replicas"] == 0
    assert rendered["Deployment", "podinfo"]["spec"]["template"]["metadata"]["labels"] != pods
