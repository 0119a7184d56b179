"""gitbot.adapters.helm_canary: the one call for a HelmRelease-deployed target, on the
flux2-kustomize-helm-example fixture rendered with real kustomize (production overlay over a
base shared with staging) and on a loose-file repository."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gitbot.adapters import helm_canary
from gitbot.adapters.helm_edit import primary_yaml
from gitbot.adapters.helmrelease import Resolution
from gitbot.adapters.render import render_repository
from gitbot.core.helm_apex import apex_selector
from gitbot.core.helm_scale import scaled_replicas

DATA = Path(__file__).parent / "data" / "helm"
EXAMPLE = Path(__file__).parent / "data" / "flux_layouts" / "flux2-kustomize-helm-example"
OVERLAY = "apps/production/kustomization.yaml"
TARGET = ("podinfo", "podinfo")


@pytest.fixture()
def example(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True)
    return tmp_path


def target_of(root: Path, annotations: dict[str, str] | None = None,
              cluster: str = "clusters/production") -> helm_canary.HelmTarget:
    found = helm_canary.helm_target(root, render_repository(root, cluster), "podinfo/podinfo",
                                    TARGET, annotations or {})
    assert isinstance(found, helm_canary.HelmTarget), found
    return found


def release_spec(root: Path, cluster: str) -> dict[str, Any]:
    return dict(target_of(root, cluster=cluster).release.release["spec"])


def test_rendered_example_gives_primary_revision_and_overlay_site(example: Path) -> None:
    found = target_of(example)
    assert found.site == helm_canary.ScaleSite("overlay", OVERLAY)
    text = primary_yaml(found.primary, "podinfo/podinfo", "podinfo/podinfo")
    assert text == (DATA / "golden" / "podinfo-primary-production.yaml").read_text()
    assert [n.split(":")[0] for n in found.notes] == [  # upstream's version range, ingress
        "chart version '>=1.0.0' is a range", "values ingress.enabled"]
    values = example / "apps/production/podinfo-values.yaml"
    values.write_text(values.read_text().replace("podinfo.production", "podinfo.prod"))
    changed = target_of(example).revision
    assert changed != found.revision
    staging = example / "apps/staging/podinfo-values.yaml"
    staging.write_text(staging.read_text().replace("podinfo.staging", "podinfo.stage"))
    assert target_of(example).revision == changed  # another environment's values


def test_scale_through_postrenderers_from_the_overlay(example: Path) -> None:
    original = (example / OVERLAY).read_text()
    found = target_of(example)
    assert helm_canary.scale(example, found, "podinfo", 0)
    entries = release_spec(example, "clusters/production")["postRenderers"]
    assert entries[0]["kustomize"]["patches"][0]["target"] == {"kind": "Deployment",
                                                               "name": "podinfo"}
    assert "postRenderers" not in release_spec(example, "clusters/staging")
    assert not helm_canary.scale(example, target_of(example), "podinfo", 0)
    assert helm_canary.scale(example, target_of(example), "podinfo", None)
    assert (example / OVERLAY).read_text() == original


def test_apex_item_precedes_the_scaling_item_in_the_overlay(example: Path) -> None:
    original = (example / OVERLAY).read_text()
    selector = {"app.kubernetes.io/name": "podinfo",
                "app.kubernetes.io/instance": "podinfo-primary"}
    assert helm_canary.point_apex(example, target_of(example), "podinfo", selector)
    assert not helm_canary.point_apex(example, target_of(example), "podinfo", selector)
    with_apex = (example / OVERLAY).read_text()
    assert with_apex.startswith(original)
    assert helm_canary.scale(example, target_of(example), "podinfo", 0, after_apex=True)
    spec = release_spec(example, "clusters/production")
    assert apex_selector(spec_of(spec)) == ("podinfo", selector)
    assert scaled_replicas(spec_of(spec)) == 0
    assert "postRenderers" not in release_spec(example, "clusters/staging")
    assert helm_canary.scale(example, target_of(example), "podinfo", None, after_apex=True)
    assert (example / OVERLAY).read_text() == with_apex


def spec_of(spec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": spec}


def test_scale_through_a_values_path_from_the_overlay(example: Path) -> None:
    annotations = {"gitbot.io/helm-replicas-path": "hpa.replicas.min"}
    found = target_of(example, annotations)
    assert helm_canary.scale(example, found, "podinfo", 0)
    values = release_spec(example, "clusters/production")["values"]
    assert values["hpa"] == {"replicas": {"min": 0}}
    assert values["redis"]["enabled"] is True  # the rest of the values untouched
    assert "hpa" not in release_spec(example, "clusters/staging")["values"]
    before = found.revision
    assert target_of(example, annotations).revision == before  # scaling is not a revision


def test_loose_repository_scales_in_the_release_file(tmp_path: Path) -> None:
    shutil.copy(DATA / "bitnami-release.yaml", tmp_path / "web.yaml")
    found = helm_canary.helm_target(tmp_path, None, "shop/web", ("shop", "shop-web"), {})
    assert isinstance(found, helm_canary.HelmTarget)
    assert found.site == helm_canary.ScaleSite("release", "web.yaml")
    assert found.notes == ("valuesFrom Secret/web-secrets:secrets.yaml is a Secret: the primary "
                           "shares it, so a change of its content reaches the primary at once",)
    assert "hunter2" not in repr(found)
    assert helm_canary.scale(tmp_path, found, "shop-web", 0)
    assert "# gitbot.io/canary-replicas" in (tmp_path / "web.yaml").read_text()
    assert helm_canary.point_apex(tmp_path, found, "shop-web", {"app": "shop-web-primary"})
    assert "# gitbot.io/apex-selector" in (tmp_path / "web.yaml").read_text()


def test_unresolved_target_returns_the_resolution(example: Path) -> None:
    found = helm_canary.helm_target(example, render_repository(example, "clusters/production"),
                                    "podinfo/backend", ("podinfo", "backend"), {})
    assert isinstance(found, Resolution) and not found.ok
    assert "gitbot.io/helm-release" in found.describe()


def test_promote_copies_a_values_change_into_the_primary_file(example: Path) -> None:
    primary_file = "apps/production/gitbot/podinfo-primary.yaml"
    found = target_of(example)
    (example / "apps/production/gitbot").mkdir()
    written = primary_yaml(found.primary, "podinfo/podinfo", "podinfo/podinfo")
    (example / primary_file).write_text(written)
    assert not helm_canary.promote(example, found, primary_file)
    values = example / "apps/production/podinfo-values.yaml"
    values.write_text(values.read_text().replace("podinfo.production", "podinfo.prod")
                      + "    image:\n      tag: 6.5.1\n")
    assert helm_canary.promote(example, target_of(example), primary_file)
    promoted = (example / primary_file).read_text()
    assert promoted == (DATA / "golden" / "podinfo-primary-promoted.yaml").read_text()
    assert promoted.replace("podinfo.prod\n", "podinfo.production\n").replace(
        "    image:\n      tag: 6.5.1\n", "") == written  # only the changed lines


def test_replicas_path_keeps_the_team_value_in_the_primary_but_not_gitbot_zero(
        example: Path) -> None:
    annotations = {"gitbot.io/helm-replicas-path": "replicaCount"}
    values = example / "apps/production/podinfo-values.yaml"
    values.write_text(values.read_text() + "    replicaCount: 3\n")
    found = target_of(example, annotations)
    assert found.primary["spec"]["values"]["replicaCount"] == 3
    assert helm_canary.scale(example, found, "podinfo", 0)
    scaled = target_of(example, annotations)
    assert "replicaCount" not in scaled.primary["spec"]["values"]  # gitbot's 0 never copied
    assert scaled.revision == found.revision
