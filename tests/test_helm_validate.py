"""`gitbot validate` on a flux2-kustomize-helm-example layout with a Canary on the podinfo
HelmRelease: it names the release it resolved, and for releases it cannot handle it says why at
the Canary's FILE:LINE (exit 2), never "not found in the repository" alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from canaries import canary_yaml, layout_with_canary
from click.testing import CliRunner

from gitbot.adapters.specs import load_repository
from gitbot.cli import cli

GOLDEN = Path(__file__).parent / "data" / "helm" / "golden" / "validate_example.txt"
RESOLVED = ("Canary podinfo/podinfo: target rendered by HelmRelease podinfo/podinfo "
            "(apps/base/podinfo/release.yaml:1, Kustomization flux-system/apps)")
SECOND = """\
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo-copy
  namespace: podinfo
spec:
  releaseName: podinfo
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
  interval: 50m
"""


def example(tmp_path: Path, target: str = "podinfo", named: str | None = None,
            release_extra: str = "") -> Path:
    """The example with a Canary on `target`, annotated gitbot.io/helm-release: `named`."""
    annotations = {"gitbot.io/helm-release": named} if named is not None else None
    layout_with_canary(tmp_path, canary_yaml(target=target, annotations=annotations))
    if release_extra:
        release = tmp_path / "apps/base/podinfo/release.yaml"
        release.write_text(release.read_text() + release_extra)
    return tmp_path


def validate(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--path", str(root), "--cluster",
                                      "clusters/production"])
    return result.exit_code, result.output


def test_validate_names_the_helm_release_it_resolved(tmp_path: Path) -> None:
    """The example as upstream writes it: `version: ">=1.0.0"` and the chart's own ingress
    enabled, both named as notes under the resolved release (golden file)."""
    code, output = validate(example(tmp_path))
    if os.environ.get("GITBOT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(output)
    assert (code, output) == (0, GOLDEN.read_text())
    assert output.startswith(f"{RESOLVED}\n")
    specs = load_repository(tmp_path, cluster="clusters/production")
    assert specs.flux is not None
    found = specs.flux.helm_target(specs.canaries[0])
    assert found is not None and found.site.file == "apps/production/kustomization.yaml"


def test_the_annotation_names_a_release_whose_objects_are_named_otherwise(
        tmp_path: Path) -> None:
    code, output = validate(example(tmp_path, target="frontend", named="podinfo/podinfo"))
    assert code == 0
    assert output.splitlines()[0] == RESOLVED


@pytest.mark.parametrize(("target", "named", "extra", "expected"), [
    pytest.param(
        "backend", None, "",
        "apps/base/podinfo/canary.yaml:10: Canary podinfo/podinfo: targetRef.name: Deployment "
        "podinfo/backend is neither in the repository nor rendered by a HelmRelease in "
        "Kustomization flux-system/apps (by release name, namespace and the chart's fullname "
        "rule; 1 HelmRelease(s) looked at); name it with the annotation "
        "gitbot.io/helm-release: NAME or NAMESPACE/NAME",
        id="no-release-renders-the-target"),
    pytest.param(
        "podinfo", "infra/podinfo", "",
        "apps/base/podinfo/canary.yaml:6: Canary podinfo/podinfo: "
        "metadata.annotations.gitbot.io/helm-release: HelmRelease infra/podinfo not found in "
        "Kustomization flux-system/apps",
        id="annotation-names-a-missing-release"),
    pytest.param(
        "podinfo", "a/b/c", "",
        "apps/base/podinfo/canary.yaml:6: Canary podinfo/podinfo: "
        "metadata.annotations.gitbot.io/helm-release: 'a/b/c' is not NAME or NAMESPACE/NAME",
        id="annotation-malformed"),
    pytest.param(
        "podinfo", None, SECOND,
        "apps/base/podinfo/canary.yaml:10: Canary podinfo/podinfo: targetRef.name: several "
        "HelmReleases may render the target: HelmRelease podinfo/podinfo "
        "(apps/base/podinfo/release.yaml:1, Kustomization flux-system/apps); HelmRelease "
        "podinfo/podinfo-copy (apps/base/podinfo/release.yaml:29, Kustomization "
        "flux-system/apps); name one with the annotation gitbot.io/helm-release",
        id="two-releases-render-the-target"),
])
def test_releases_gitbot_cannot_handle_are_explained_at_the_canary(
        tmp_path: Path, target: str, named: str | None, extra: str, expected: str) -> None:
    code, output = validate(example(tmp_path, target, named, extra))
    assert (code, output) == (2, expected + "\n")


def test_a_release_name_flux_would_shorten_is_refused(tmp_path: Path) -> None:
    root = example(tmp_path, named="podinfo")
    release = root / "apps/base/podinfo/release.yaml"
    release.write_text(release.read_text().replace("releaseName: podinfo",
                                                   "releaseName: " + "p" * 54))
    code, output = validate(root)
    assert code == 2
    assert output.startswith("apps/base/podinfo/canary.yaml:12: Canary podinfo/podinfo: "
                             "targetRef.name: HelmRelease podinfo/podinfo "
                             "(apps/base/podinfo/release.yaml:1, Kustomization flux-system/apps):"
                             " spec.releaseName: the release name 'ppp")
    assert output.rstrip().endswith("(Flux shortens it with a hash): set spec.releaseName")


def test_a_plain_repository_says_the_target_is_a_helm_release(tmp_path: Path) -> None:
    """Without Flux Kustomizations (the apps directory alone), the "not found" target names the
    HelmRelease file that renders it and what gitbot needs to handle it."""
    root = example(tmp_path / "full")
    shutil.copytree(root / "apps", tmp_path / "plain" / "apps")
    result = CliRunner().invoke(cli, ["validate", "--path", str(tmp_path / "plain")])
    assert (result.exit_code, result.output) == (2, (
        "apps/base/podinfo/canary.yaml:10: Canary podinfo/podinfo: targetRef.name: Deployment "
        "podinfo/podinfo is rendered by HelmRelease podinfo/podinfo "
        "(apps/base/podinfo/release.yaml:1), but gitbot handles HelmRelease targets only in a "
        "repository with Flux Kustomizations (set flux.cluster; README \"Helm\")\n"))
