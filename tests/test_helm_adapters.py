"""gitbot.adapters.helmrelease (which HelmRelease renders a Canary's target) and helm_edit
(promote, postRenderers scaling, values path) on the flux2-kustomize-helm-example fixture,
rendered with real kustomize, and on loose files. Edits are golden files
(tests/data/helm/golden; GITBOT_UPDATE_GOLDEN=1 rewrites them; review the diff)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitbot.adapters import helm_edit, helmrelease
from gitbot.adapters.render import render_repository
from gitbot.adapters.render.kustomize import kubectl_binary
from gitbot.core import helm
from gitbot.core.helm_primary import plain, plan_values_from, promotion, release_revision
from gitbot.errors import InvalidInputError

DATA = Path(__file__).parent / "data" / "helm"
EXAMPLE = Path(__file__).parent / "data" / "flux_layouts" / "flux2-kustomize-helm-example"
UPDATE = os.environ.get("GITBOT_UPDATE_GOLDEN") == "1"
RELEASE = "apps/base/podinfo/release.yaml"
PODINFO = Path(__file__).parent / "data" / "flux_layouts" / "podinfo"


def assert_golden(name: str, text: str) -> None:
    path = DATA / "golden" / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    return root


@pytest.fixture(scope="module")
def rendered(example: Path) -> list[helmrelease.Candidate]:
    view = render_repository(example, "clusters/production")
    return helmrelease.release_candidates(example, view)


def test_rendered_release_resolves_with_file_line_and_kustomization(
        rendered: list[helmrelease.Candidate]) -> None:
    found = helmrelease.resolve("podinfo/podinfo", ("podinfo", "podinfo"), {}, rendered)
    assert found.describe() == (
        "Canary podinfo/podinfo: target rendered by HelmRelease podinfo/podinfo "
        "(apps/base/podinfo/release.yaml:1, Kustomization flux-system/apps)")
    assert found.release is not None
    # the production overlay's values patch is part of what Flux applies
    assert found.release.release["spec"]["values"]["ingress"]["hosts"][0]["host"] == (
        "podinfo.production")


def test_annotation_names_the_release_and_a_missing_one_is_explained(
        rendered: list[helmrelease.Candidate]) -> None:
    named = helmrelease.resolve("podinfo/podinfo", ("podinfo", "frontend"),
                                {"gitbot.io/helm-release": "podinfo"}, rendered)
    assert named.ok and named.release is not None and named.release.key == ("podinfo", "podinfo")
    missing = helmrelease.resolve("podinfo/podinfo", ("podinfo", "podinfo"),
                                  {"gitbot.io/helm-release": "infra/podinfo"}, rendered)
    assert missing.describe() == (
        "Canary podinfo/podinfo: metadata.annotations.gitbot.io/helm-release: HelmRelease "
        "infra/podinfo not found")


def test_no_release_renders_the_target(rendered: list[helmrelease.Candidate]) -> None:
    found = helmrelease.resolve("podinfo/backend", ("podinfo", "backend"), {}, rendered,
                                kustomization="flux-system/apps")
    assert not found.ok
    assert found.error.startswith("Deployment podinfo/backend is neither in the repository nor "
                                  "rendered by a HelmRelease in Kustomization flux-system/apps")
    assert "gitbot.io/helm-release" in found.error


def test_loose_files_list_base_and_overlays_and_several_matches_are_an_error(
        example: Path) -> None:
    loose = helmrelease.release_candidates(example, None)
    found = helmrelease.resolve("podinfo/podinfo", ("podinfo", "podinfo"), {}, loose)
    assert found.error == (
        "several HelmReleases may render the target: HelmRelease podinfo/podinfo "
        "(apps/base/podinfo/release.yaml:1); HelmRelease podinfo/podinfo "
        "(apps/production/podinfo-values.yaml:1); HelmRelease podinfo/podinfo "
        "(apps/staging/podinfo-values.yaml:1); name one with the annotation "
        "gitbot.io/helm-release")


def test_loose_files_skip_chart_templates_and_bad_annotation(tmp_path: Path) -> None:
    (tmp_path / "chart/templates").mkdir(parents=True)
    (tmp_path / "chart/templates/deployment.yaml").write_text(
        "metadata:\n  name: {{ include \"x.fullname\" . }}\n{{- if .Values.a }}\n")
    shutil.copy(DATA / "bitnami-release.yaml", tmp_path / "web.yaml")
    loose = helmrelease.release_candidates(tmp_path, None)
    assert [c.where() for c in loose] == ["HelmRelease flux-system/web (web.yaml:2)"]
    found = helmrelease.resolve("shop/web", ("shop", "shop-web"), {}, loose)
    assert found.ok  # targetNamespace-name release, Bitnami fullname rule
    bad = helmrelease.resolve("shop/web", ("shop", "shop-web"),
                              {"gitbot.io/helm-release": "a/b/c"}, loose)
    assert "is not NAME or NAMESPACE/NAME" in bad.error


def test_values_from_digests_change_with_content_and_never_show_secrets() -> None:
    docs = [d for d in YAML(typ="safe").load_all((DATA / "bitnami-release.yaml").read_text())]
    team, config, secret = docs
    first = helmrelease.values_from_digests(team, [config, secret])
    assert set(first) == {"ConfigMap/web-values:values.yaml", "Secret/web-secrets:secrets.yaml"}
    assert "hunter2" not in repr(first)
    secret["stringData"]["secrets.yaml"] = "auth:\n  password: other\n"
    second = helmrelease.values_from_digests(team, [config, secret])
    assert second["Secret/web-secrets:secrets.yaml"] != first["Secret/web-secrets:secrets.yaml"]
    assert second["ConfigMap/web-values:values.yaml"] == first["ConfigMap/web-values:values.yaml"]
    assert release_revision(team, first) != release_revision(team, second)
    missing = helmrelease.values_from_digests(team, [config])
    assert missing["Secret/web-secrets:secrets.yaml"] == "missing"


def copy_file(tmp_path: Path, source: Path, rel: str) -> Path:
    target = tmp_path / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


def test_postrenderer_entry_add_change_remove_on_the_example(tmp_path: Path) -> None:
    path = copy_file(tmp_path, EXAMPLE / RELEASE, RELEASE)
    original = path.read_text()
    assert helm_edit.set_canary_replicas(tmp_path, RELEASE, "podinfo", "podinfo", 0)
    assert_golden("release-scaled-0.yaml", path.read_text())
    assert not helm_edit.set_canary_replicas(tmp_path, RELEASE, "podinfo", "podinfo", 0)
    assert helm_edit.set_canary_replicas(tmp_path, RELEASE, "podinfo", "podinfo", 3)
    assert_golden("release-scaled-3.yaml", path.read_text())
    assert helm_edit.set_canary_replicas(tmp_path, RELEASE, "podinfo", "podinfo", None)
    assert path.read_text() == original
    assert not helm_edit.set_canary_replicas(tmp_path, RELEASE, "podinfo", "podinfo", None)


def test_postrenderer_entry_keeps_the_team_entries_byte_identical(tmp_path: Path) -> None:
    path = copy_file(tmp_path, DATA / "team-postrenderers.yaml", "release.yaml")
    original = path.read_text()
    helm_edit.set_canary_replicas(tmp_path, "release.yaml", "podinfo", "podinfo", 0)
    edited = path.read_text()
    assert_golden("team-postrenderers-scaled.yaml", edited)
    assert edited.startswith(original)  # only lines appended after the team's entry
    helm_edit.set_canary_replicas(tmp_path, "release.yaml", "podinfo", "podinfo", None)
    assert path.read_text() == original


def test_values_path_set_and_removed(tmp_path: Path) -> None:
    path = copy_file(tmp_path, EXAMPLE / RELEASE, RELEASE)
    original = path.read_text()
    assert helm_edit.set_values_path(tmp_path, RELEASE, "podinfo", ("replicaCount",), 0)
    assert path.read_text() == original.rstrip("\n") + "\n    replicaCount: 0\n"
    assert helm_edit.set_values_path(tmp_path, RELEASE, "podinfo", ("replicaCount",), None)
    assert path.read_text() == original


def test_promote_copies_version_and_values_in_one_minimal_edit(tmp_path: Path) -> None:
    team = YAML(typ="safe").load((DATA / "bitnami-release.yaml").read_text().split("---")[1])
    rel = "gitbot/web-primary.yaml"
    generated = DATA / "golden" / "web-primary.yaml"
    path = copy_file(tmp_path, generated, rel)
    team["spec"]["chart"]["spec"]["version"] = "18.2.5"
    team["spec"]["values"]["image"]["tag"] = "1.27.2"
    del team["spec"]["values"]["nameOverride"]
    chosen = promotion(team, "shop-web", helm.DEFAULT_NAME_PATH, ("replicaCount",), 2)
    assert helm_edit.promote(tmp_path, rel, "web-primary", chosen)
    assert_golden("web-primary-promoted.yaml", path.read_text())
    assert not helm_edit.promote(tmp_path, rel, "web-primary", chosen)


def test_edit_of_a_missing_release_names_the_file(tmp_path: Path) -> None:
    copy_file(tmp_path, EXAMPLE / RELEASE, RELEASE)
    with pytest.raises(InvalidInputError,
                       match=re.escape(f"{RELEASE}: no HelmRelease 'web' in this file")):
        helm_edit.set_canary_replicas(tmp_path, RELEASE, "web", "web", 0)


def kustomize(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run([kubectl_binary(), "kustomize", str(directory)], capture_output=True,
                          text=True, check=True, env={"KUBECONFIG": os.devnull})
    return [d for d in YAML(typ="safe").load_all(done.stdout) if d]


def test_gitbot_postrenderer_scales_only_the_target_with_real_kustomize(tmp_path: Path) -> None:
    """helm-controller's kustomize post-renderer, reproduced: the chart's output as resources,
    the postRenderers entries' patches in order (team's sidecar entry, then gitbot's)."""
    yaml = YAML(typ="safe")
    target = yaml.load((PODINFO / "kustomize/deployment.yaml").read_text())
    primary = copy.deepcopy(target)
    primary["metadata"]["name"] = "podinfo-primary"
    primary["spec"]["replicas"] = 2
    assert "replicas" not in target["spec"]  # as the chart renders it with hpa.enabled
    team = yaml.load((DATA / "team-postrenderers.yaml").read_text())
    patches = [p for e in team["spec"]["postRenderers"] for p in e["kustomize"]["patches"]]
    patches += plain(helm_edit.replicas_entry("podinfo", 0))["kustomize"]["patches"]
    for name, doc in (("target.yaml", target), ("primary.yaml", primary)):
        (tmp_path / name).write_text(json.dumps(doc))
    (tmp_path / "kustomization.yaml").write_text(json.dumps(
        {"resources": ["target.yaml", "primary.yaml"], "patches": patches}))
    out = {d["metadata"]["name"]: d for d in kustomize(tmp_path)}
    assert out["podinfo"]["spec"]["replicas"] == 0
    assert out["podinfo-primary"]["spec"]["replicas"] == 2
    assert out["podinfo-primary"]["spec"]["template"]["metadata"]["annotations"][
        "sidecar.istio.io/inject"] == "true"


def test_config_map_values_read_configmaps_only_and_feed_the_primary() -> None:
    team, config, secret = [d for d in YAML(typ="safe").load_all(
        (DATA / "bitnami-release.yaml").read_text())]
    found = helmrelease.config_map_values(team, [config, secret])
    assert plain(found) == {"ConfigMap/web-values:values.yaml": {"service": {"type": "ClusterIP"}}}
    plan = plan_values_from(team, found)
    assert plan.merged is None  # the Secret reference stays shared with the team's release
    assert plan.note == ("valuesFrom Secret/web-secrets:secrets.yaml is a Secret: the primary "
                         "shares it, so a change of its content reaches the primary at once")
    team["spec"]["valuesFrom"] = team["spec"]["valuesFrom"][:1]
    plan = plan_values_from(team, helmrelease.config_map_values(team, [config]))
    assert plan.merged is not None and plan.merged["service"] == {"type": "ClusterIP"}
    config["data"]["values.yaml"] = "service: [unclosed"
    assert helmrelease.config_map_values(team, [config]) == {}


def rendered_release(root: Path, cluster: str) -> dict[str, Any]:
    view = render_repository(root, cluster)
    assert view is not None
    return dict(view.find("HelmRelease", "podinfo", "podinfo")[0].obj)


OVERLAY = "apps/production/kustomization.yaml"


@pytest.mark.parametrize("team_entry", [
    pytest.param(False, id="base-without-postRenderers"),
    pytest.param(True, id="base-with-team-postRenderers"),
])
def test_overlay_patch_scales_production_only(tmp_path: Path, team_entry: bool) -> None:
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True)
    if team_entry:
        team = YAML(typ="safe").load((DATA / "team-postrenderers.yaml").read_text())
        with (tmp_path / RELEASE).open("a") as out:
            out.write("  postRenderers: " + json.dumps(team["spec"]["postRenderers"]) + "\n")
    original = (tmp_path / OVERLAY).read_text()
    before = rendered_release(tmp_path, "clusters/production")
    text = helm_edit.overlay_patch_text(before, "podinfo", 0)
    assert helm_edit.set_overlay_replicas(tmp_path, OVERLAY, ("podinfo", "podinfo"), text)
    assert not helm_edit.set_overlay_replicas(tmp_path, OVERLAY, ("podinfo", "podinfo"), text)
    if not team_entry:
        assert_golden("overlay-kustomization-scaled.yaml", (tmp_path / OVERLAY).read_text())
    production = rendered_release(tmp_path, "clusters/production")["spec"]["postRenderers"]
    assert production[:-1] == before["spec"].get("postRenderers", [])
    assert production[-1] == plain(helm_edit.replicas_entry("podinfo", 0))
    staging = rendered_release(tmp_path, "clusters/staging")["spec"].get("postRenderers", [])
    assert staging == before["spec"].get("postRenderers", [])
    assert helm_edit.set_overlay_replicas(tmp_path, OVERLAY, ("podinfo", "podinfo"), None)
    assert (tmp_path / OVERLAY).read_text() == original
