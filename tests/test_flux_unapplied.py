"""`gitbot validate` on Flux repositories whose Kustomizations gitbot partly skips: a Canary file
that no rendered Kustomization applies is named (flux2-kustomize-helm-example with its
ArtifactGenerator reading an OCIRepository: an ExternalArtifact gitbot cannot see), and a
target not found while a skipped Kustomization may apply it says so (Flux's getting-started:
podinfo from its own repository)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from canaries import LAYOUTS, canary_yaml, layout_with_canary
from click.testing import CliRunner

from gitbot.cli import cli

CANARY = canary_yaml(interval="30s")
SKIPPED = ("note: clusters/production/apps.yaml:2: Kustomization flux-system/apps: skipped: its "
           "source ExternalArtifact/flux-system/apps is not the repository's "
           "GitRepository/flux-system/flux-system; gitbot does not see what it applies "
           "(clusters/production/artifacts.yaml:2: ArtifactGenerator flux-system/flux-system: "
           "spec.sources: OCIRepository/flux-system/flux-system is not the repository's "
           "GitRepository/flux-system/flux-system)\n")


def validate(root: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--path", str(root), *extra])
    return result.exit_code, result.output


def test_canary_in_an_external_artifact_kustomization_is_named_not_silently_dropped(
        tmp_path: Path) -> None:
    root = layout_with_canary(tmp_path / "example", CANARY,
                              "flux2-kustomize-helm-example-artifacts")
    generator = root / "clusters/production/artifacts.yaml"  # a source gitbot does not render
    generator.write_text(generator.read_text().replace("kind: GitRepository",
                                                       "kind: OCIRepository"))
    code, output = validate(root, "--cluster", "clusters/production")
    assert code == 0
    assert SKIPPED in output
    assert output.endswith(
        "note: apps/base/podinfo/canary.yaml:1: Canary podinfo/podinfo: not applied by any Flux "
        "Kustomization gitbot renders for clusters/production (skipped, other source: "
        "flux-system/apps, flux-system/infra-configs, flux-system/infra-controllers); ignored\n"
        "valid: 0 Canary, 0 MetricTemplate, 0 AlertProvider\n")


@pytest.mark.parametrize("folder, expected", [
    pytest.param("other", "note: other/canary.yaml:1: Canary podinfo/podinfo: not applied by any "
                 "Flux Kustomization gitbot renders for clusters/my-cluster; ignored\n"
                 "valid: 1 Canary, 2 MetricTemplate, 0 AlertProvider\n", id="outside-every-path"),
    pytest.param(None, "valid: 1 Canary, 2 MetricTemplate, 0 AlertProvider\n",
                 id="every-canary-rendered"),
])
def test_canary_outside_every_kustomization_path(tmp_path: Path, folder: str | None,
                                                 expected: str) -> None:
    root = tmp_path / "gitops-istio"
    shutil.copytree(LAYOUTS / "gitops-istio", root)
    if folder:
        (root / folder).mkdir()
        (root / folder / "canary.yaml").write_text(CANARY)
    assert validate(root) == (0, expected)


PODINFO = "flux-system/podinfo (GitRepository/flux-system/podinfo)"
SHOP = "flux-system/shop (OCIRepository/flux-system/shop)"
SHOP_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: shop
  namespace: flux-system
spec:
  interval: 10m
  path: ./
  prune: true
  sourceRef:
    kind: OCIRepository
    name: shop
  targetNamespace: shop
"""


@pytest.mark.parametrize("namespace, skipped", [
    pytest.param("default", PODINFO, id="the-skipped-kustomization-targeting-its-namespace"),
    pytest.param("shop", SHOP, id="another-target-namespace"),
    pytest.param("other", f"{PODINFO}, {SHOP}", id="no-namespace-match-names-every-skipped"),
])
def test_getting_started_canary_on_podinfo_from_its_own_repository(
        tmp_path: Path, namespace: str, skipped: str) -> None:
    """Flux's getting-started applies podinfo from podinfo's GitRepository: a Canary in the
    fleet repository cannot find its target, and the problem says which Kustomization may
    apply it and that gitbot renders only the repository's own source."""
    root = tmp_path / "fleet-infra"
    shutil.copytree(LAYOUTS / "getting-started", root)
    (root / "clusters/my-cluster/shop.yaml").write_text(SHOP_KUSTOMIZATION)
    (root / "clusters/my-cluster/podinfo-canary.yaml").write_text(
        canary_yaml(namespace=namespace, interval="30s"))
    code, output = validate(root)
    assert code == 2
    assert output.splitlines()[-1] == (
        f"clusters/my-cluster/podinfo-canary.yaml:10: Canary {namespace}/podinfo: "
        f"targetRef.name: Deployment {namespace}/podinfo not found in the repository; skipped "
        f"Kustomization {skipped} may apply it, but gitbot renders only "
        "GitRepository/flux-system/flux-system: keep the target in this repository")
