"""Flux postBuild substitution on rendered objects, and Kustomizations of other sources."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.adapters.render import render_repository
from gitbot.adapters.render.model import FluxView
from gitbot.adapters.specs import format_problems, load_repository
from gitbot.cli import cli

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"

CLUSTER_VARS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-vars
  namespace: flux-system
data:
  cluster_env: dev
  replicas: "3"
"""

POST_BUILD = """\
  postBuild:
    substitute:
      tier: frontend
{extra}"""

DEPLOYMENT_VARS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vars
  labels:
    env: ${cluster_env}
    tier: ${tier}
    region: ${region:=eu-west-1}
    literal: $${cluster_env}
    empty: x${undefined}x
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: vars
  template:
    metadata:
      labels:
        app: vars
    spec:
      containers:
        - name: vars
          image: ghcr.io/stefanprodan/podinfo:6.0.0
"""


def podinfo(tmp_path: Path, extra: str = "", vars_file: bool = True) -> Path:
    root = tmp_path / "podinfo"
    shutil.copytree(LAYOUTS / "podinfo", root)
    if vars_file:
        (root / "clusters/dev/cluster-vars.yaml").write_text(CLUSTER_VARS)
    flux = root / "clusters/dev/podinfo.yaml"
    flux.write_text(flux.read_text() + POST_BUILD.replace("{extra}", extra))
    (root / "kustomize/vars.yaml").write_text(DEPLOYMENT_VARS)
    kustomization = root / "kustomize/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "resources:\n", "resources:\n  - vars.yaml\n", 1))
    return root


def render(root: Path) -> FluxView:
    view = render_repository(root)
    assert view is not None
    return view


FROM_CLUSTER_VARS = "    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-vars\n"


def test_substitute_and_substitute_from_config_map_expand_as_flux_does(tmp_path: Path) -> None:
    view = render(podinfo(tmp_path, FROM_CLUSTER_VARS))
    [deployment] = view.find("Deployment", "vars")
    assert deployment.obj["metadata"]["labels"] == {
        "env": "dev", "tier": "frontend", "region": "eu-west-1", "literal": "${cluster_env}",
        "empty": "xx"}
    assert deployment.obj["spec"]["replicas"] == 3  # a number once substituted, as in Flux
    assert deployment.origin.file == "kustomize/vars.yaml"
    [other] = view.find("Deployment", "webapp-backend") or [None]  # webapp-dev has no postBuild
    assert other is None or "${" not in str(other.obj)


def test_inline_substitute_wins_over_substitute_from(tmp_path: Path) -> None:
    root = podinfo(tmp_path, FROM_CLUSTER_VARS)
    flux = root / "clusters/dev/podinfo.yaml"
    flux.write_text(flux.read_text().replace("      tier:", "      cluster_env: prod\n      tier:"))
    [deployment] = render(root).find("Deployment", "vars")
    assert deployment.obj["metadata"]["labels"]["env"] == "prod"


def test_substitution_disabled_by_label_leaves_the_object_alone(tmp_path: Path) -> None:
    root = podinfo(tmp_path, FROM_CLUSTER_VARS)
    vars_file = root / "kustomize/vars.yaml"
    vars_file.write_text(vars_file.read_text().replace(
        "  labels:\n", "  labels:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n", 1))
    [deployment] = render(root).find("Deployment", "vars")
    assert deployment.obj["metadata"]["labels"]["env"] == "${cluster_env}"


@pytest.mark.parametrize("extra, vars_file, message", [
    pytest.param("    substituteFrom:\n      - kind: Secret\n        name: cluster-secrets\n"
                 "      - kind: Secret\n        name: tokens\n        optional: true\n", True,
                 "clusters/dev/podinfo.yaml:1: Kustomization flux-system/podinfo: "
                 "spec.postBuild.substituteFrom: Secret flux-system/cluster-secrets, "
                 "flux-system/tokens: gitbot cannot read Secrets from the repository",
                 id="secrets-named"),
    pytest.param(FROM_CLUSTER_VARS, False,
                 "clusters/dev/podinfo.yaml:1: Kustomization flux-system/podinfo: "
                 "spec.postBuild.substituteFrom: ConfigMap flux-system/cluster-vars is not "
                 "rendered from the repository", id="config-map-missing"),
])
def test_unreadable_variables_are_a_clear_error(tmp_path: Path, extra: str, vars_file: bool,
                                               message: str) -> None:
    root = podinfo(tmp_path, extra, vars_file)
    assert only_problem(root).startswith(message)
    problems = format_problems(load_repository(root).problems)
    assert problems.startswith(message.replace(":1: Kustomization", ":1: Kustomization", 1))


def test_optional_missing_config_map_is_skipped(tmp_path: Path) -> None:
    extra = FROM_CLUSTER_VARS + "        optional: true\n"
    [deployment] = render(podinfo(tmp_path, extra, vars_file=False)).find("Deployment", "vars")
    assert deployment.obj["metadata"]["labels"]["env"] == ""


def test_unsupported_expression_names_the_object_and_expression(tmp_path: Path) -> None:
    root = podinfo(tmp_path, FROM_CLUSTER_VARS)
    vars_file = root / "kustomize/vars.yaml"
    vars_file.write_text(vars_file.read_text().replace("${tier}", "${tier/front/back}"))
    assert re.match(r"kustomize/vars.yaml:1: Deployment vars \(clusters/dev/podinfo.yaml:1: "
                    r"Kustomization flux-system/podinfo\): postBuild substitution: "
                    r"'\$\{tier/front/back\}' is not supported", only_problem(root))


def only_problem(root: Path) -> str:
    """The one problem of a render where Kustomization flux-system/podinfo failed (only it:
    kustomize-controller fails just that one, the others are rendered)."""
    view = render_repository(root)
    assert view is not None
    keys = [k.kustomization.key for k in view.kustomizations]
    assert "flux-system/podinfo" not in keys and "flux-system/flux-system" in keys
    [message] = view.problems
    return message


def test_canary_values_come_from_substitution(tmp_path: Path) -> None:
    root = podinfo(tmp_path, FROM_CLUSTER_VARS)
    canary = root / "kustomize/canary.yaml"
    canary.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\nspec:\n"
        "  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: podinfo\n"
        "  service:\n    port: 9898\n  analysis:\n    interval: 30s\n    threshold: 5\n"
        "    maxWeight: ${max_weight:=40}\n    stepWeight: 10\n")
    kustomization = root / "kustomize/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "resources:\n", "resources:\n  - canary.yaml\n", 1))
    specs = load_repository(root)
    assert specs.problems == ()
    [canary_spec] = specs.canaries
    assert (canary_spec.key, canary_spec.analysis.max_weight) == ("test/podinfo", 40)


def test_validate_renders_the_artifact_kustomizations_of_todays_example() -> None:
    """Upstream flux2-kustomize-helm-example today: apps and infrastructure come from
    ExternalArtifacts of an ArtifactGenerator copying subtrees of the repository; gitbot renders
    them from those subtrees (no Kustomization skipped, nothing to note: it has no Canary)."""
    runner = CliRunner()
    example = str(LAYOUTS / "flux2-kustomize-helm-example-artifacts")
    result = runner.invoke(cli, ["validate", "--path", example, "--cluster",
                                 "clusters/production"])
    assert result.exit_code == 0, result.output
    assert result.output == "valid: 0 Canary, 0 MetricTemplate, 0 AlertProvider\n"
