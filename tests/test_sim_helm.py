"""gitbot.sim.helm: the simulated helm-controller renders a podinfo-like HelmRelease (names by
the chart's fullname rule, values, postRenderers patches), so the team's release, gitbot's
`<release>-primary` and gitbot's scaling entry can be exercised without a cluster."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitbot.sim.flux import load_manifests
from gitbot.sim.helm import render_release
from gitbot.sim.objects import Deployment, HelmReleaseStatus, ManifestError, Service, parse_object

DATA = Path(__file__).parent / "data" / "helm"


def load(name: str) -> Any:
    return YAML(typ="safe").load((DATA / name).read_text())


def parsed(doc: Any) -> tuple[Deployment, Service]:
    deployment, service = (parse_object(o) for o in render_release(doc))
    assert isinstance(deployment, Deployment) and isinstance(service, Service)
    return deployment, service


def test_team_release_and_gitbot_primary_do_not_share_pods() -> None:
    team = load("team-postrenderers.yaml")
    primary = load("golden/podinfo-primary-production.yaml")
    canary, canary_service = parsed(team)
    main, main_service = parsed(primary)
    assert (canary.namespace, canary.name, canary.replicas) == ("podinfo", "podinfo", 2)
    assert (main.name, main.replicas) == ("podinfo-primary", 1)
    assert canary_service.name == "podinfo" and main_service.name == "podinfo-primary"
    assert dict(canary_service.selector)["app.kubernetes.io/instance"] == "podinfo"
    assert dict(main_service.selector)["app.kubernetes.io/instance"] == "podinfo-primary"


def test_gitbot_scaling_entry_and_team_patch_are_applied() -> None:
    scaled = load("golden/team-postrenderers-scaled.yaml")
    rendered = render_release(scaled)
    assert rendered[0]["spec"]["replicas"] == 0
    assert rendered[0]["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/inject": "true"}
    assert "replicas" not in rendered[1]["spec"]  # the Service is not selected by the patch


@pytest.mark.parametrize(("spec", "name", "namespace"), [
    pytest.param({"targetNamespace": "shop"}, "shop-web-podinfo", "shop", id="targetNamespace"),
    pytest.param({"values": {"nameOverride": "web"}}, "web", "apps", id="release-contains-name"),
    pytest.param({"releaseName": "x", "values": {"fullnameOverride": "y"}}, "y", "apps",
                 id="fullnameOverride"),
])
def test_names(spec: dict[str, Any], name: str, namespace: str) -> None:
    doc = {"metadata": {"name": "web", "namespace": "apps"},
           "spec": {"chart": {"spec": {"chart": "podinfo"}}, **spec}}
    deployment, _ = parsed(doc)
    assert (deployment.name, deployment.namespace) == (name, namespace)


def test_unsupported_patch_is_refused() -> None:
    doc = {"metadata": {"name": "web"}, "spec": {
        "chart": {"spec": {"chart": "podinfo"}},
        "postRenderers": [{"kustomize": {"patches": [{"patch": "kind: Deployment\n"}]}}]}}
    with pytest.raises(ManifestError, match="only JSON6902"):
        render_release(doc)


EXAMPLE = Path(__file__).parent / "data" / "flux_layouts" / "flux2-kustomize-helm-example"
SCALED = DATA / "golden" / "overlay-kustomization-scaled.yaml"


def test_simulated_flux_renders_the_example_releases_with_gitbot_scaling(
        tmp_path: Path) -> None:
    """load_manifests: each rendered HelmRelease becomes its Deployment and Service (postRenderers
    patches applied) plus its status for the gotk_resource_info series; per cluster."""
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True)
    shutil.copy(SCALED, tmp_path / "apps/production/kustomization.yaml")
    production = load_manifests(tmp_path, "clusters/production")
    staging = load_manifests(tmp_path, "clusters/staging")

    def podinfo(objects: list[Any]) -> Deployment:
        found = [o for o in objects if isinstance(o, Deployment)
                 and (o.namespace, o.name) == ("podinfo", "podinfo")]
        assert len(found) == 1
        return found[0]

    assert podinfo(production).replicas == 0  # gitbot's entry, added by the overlay
    assert podinfo(staging).replicas == 1  # the shared base untouched
    statuses = {(o.namespace, o.name, o.revision) for o in production
                if isinstance(o, HelmReleaseStatus)}
    assert ("podinfo", "podinfo", ">=1.0.0") in statuses
