"""`gitbot validate` names the Canary files that no rendered Flux Kustomization applies: a Canary
added to today's flux2-kustomize-helm-example (applied through an ArtifactGenerator's
ExternalArtifact, which gitbot skips) or left outside every Kustomization path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.cli import cli

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"

CANARY = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: podinfo
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 10
"""

SKIPPED = ("note: clusters/production/apps.yaml:2: Kustomization flux-system/apps: skipped: its "
           "source ExternalArtifact/flux-system/apps is not the repository's "
           "GitRepository/flux-system/flux-system; gitbot does not see what it applies\n")


def validate(root: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--path", str(root), *extra])
    return result.exit_code, result.output


def test_canary_in_an_external_artifact_kustomization_is_named_not_silently_dropped(
        tmp_path: Path) -> None:
    root = tmp_path / "example"
    shutil.copytree(LAYOUTS / "flux2-kustomize-helm-example-artifacts", root)
    base = root / "apps/base/podinfo"
    (base / "canary.yaml").write_text(CANARY)
    kustomization = base / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - canary.yaml\n")
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
