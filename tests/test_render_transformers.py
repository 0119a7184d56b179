"""Which images/patch entries select a rendered object (for "overridden by FILE:LINE" errors)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitbot.adapters.render import render_repository
from gitbot.adapters.render.transformers import selecting_entries

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"


def entries(root: Path, kustomization: str, kind: str, name: str,
            cluster: str | None = None) -> list[str]:
    view = render_repository(root, cluster)
    assert view is not None
    rendered = view.by_name(kustomization)
    obj = rendered.find(kind, name)[0]
    return [e.where() for e in selecting_entries(root, rendered, obj)]


@pytest.mark.parametrize(("layout", "cluster", "kustomization", "kind", "name", "expected"), [
    pytest.param("gitops-istio", None, "flux-system/apps", "Deployment", "backend",
                 ["apps/backend/kustomization.yaml:8: images[0]",
                  "apps/backend/kustomization.yaml:12: patchesJson6902[0]"],
                 id="images-and-json6902-patch-on-target"),
    pytest.param("gitops-istio", None, "flux-system/apps", "Canary", "backend", [],
                 id="transformers-ran-but-select-nothing"),
    pytest.param("flux2-kustomize-helm-example", "clusters/production", "flux-system/apps",
                 "HelmRelease", "podinfo", ["apps/production/kustomization.yaml:6: patches[0]"],
                 id="patch-file-with-target"),
    pytest.param("flux2-kustomize-helm-example", "clusters/production",
                 "flux-system/infra-configs", "ClusterIssuer", "letsencrypt",
                 ["clusters/production/infrastructure.yaml:18: spec.patches[0]"],
                 id="flux-kustomization-patch"),
])
def test_selecting_entries(layout: str, cluster: str | None, kustomization: str, kind: str,
                           name: str, expected: list[str]) -> None:
    assert entries(LAYOUTS / layout, kustomization, kind, name, cluster) == expected


def test_untargeted_patch_file_selects_by_kind_and_name(tmp_path: Path) -> None:
    root = tmp_path / "podinfo"
    shutil.copytree(LAYOUTS / "podinfo", root)
    (root / "kustomize/replicas.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 3\n")
    kustomization = root / "kustomize/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "patches:\n  - path: replicas.yaml\n")
    assert entries(root, "flux-system/podinfo", "Deployment", "podinfo") == [
        "kustomize/kustomization.yaml:8: patches[0]"]
    assert entries(root, "flux-system/podinfo", "Service", "podinfo") == []
