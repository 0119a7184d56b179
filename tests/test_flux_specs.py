"""Loading canaries from what Flux renders: real fixture layouts, origins in problems, clusters."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from canaries import LAYOUTS, add_canary, canary_yaml
from click.testing import CliRunner

from gitbot.adapters.specs import format_problems, load_repository
from gitbot.cli import cli

BACKEND = canary_yaml("backend", namespace=None, interval="30s")


def layout(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root)
    return root


def test_gitops_istio_real_canary_is_valid_and_belongs_to_the_apps_kustomization() -> None:
    specs = load_repository(LAYOUTS / "gitops-istio")
    assert format_problems(specs.problems) == ""
    assert [c.key for c in specs.canaries] == ["prod/backend"]
    assert sorted(t.key for t in specs.templates) == ["istio-system/error-rate",
                                                      "istio-system/latency"]
    assert specs.flux is not None
    assert specs.flux.kustomizations == {"prod/backend": "flux-system/apps"}
    canary = specs.canaries[0]
    assert canary.source is not None and canary.source.path == "apps/backend/canary.yaml"


def test_gitops_istio_effective_revision_follows_images_new_tag(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    specs = load_repository(root)
    assert specs.flux is not None
    before = specs.flux.revision(specs.canaries[0])
    kustomization = root / "apps/backend/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("newTag: 6.1.0", "newTag: 6.2.0"))
    after_specs = load_repository(root)
    assert after_specs.flux is not None
    assert after_specs.flux.revision(after_specs.canaries[0]) not in ("", before)


def test_problem_names_the_source_file_and_line_of_the_rendered_canary(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    canary = root / "apps/backend/canary.yaml"
    canary.write_text(canary.read_text().replace("stepWeight: 5", "stepWeight: 500"))
    line = canary.read_text().splitlines().index("    stepWeight: 500") + 1
    assert format_problems(load_repository(root).problems).startswith(
        f"apps/backend/canary.yaml:{line}: Canary prod/backend: analysis.stepWeight:")


def test_target_namespace_canary_and_target_are_found(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    add_canary(root / "kustomize", canary_yaml(namespace=None, interval="30s"))
    specs = load_repository(root, cluster="clusters/dev")
    assert format_problems(specs.problems) == ""
    assert [c.key for c in specs.canaries] == ["test/podinfo"]
    assert specs.flux is not None and specs.flux.kustomizations == {
        "test/podinfo": "flux-system/podinfo"}


def test_canary_in_a_shared_base_is_one_canary_per_environment(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    add_canary(root / "deploy/bases/backend", BACKEND)
    production = root / "clusters/production"
    production.mkdir()
    (production / "webapp.yaml").write_text(
        (root / "clusters/dev/webapp.yaml").read_text()
        .replace("webapp-dev", "webapp-production").replace("overlays/dev", "overlays/production"))
    dev = load_repository(root, cluster="clusters/dev")
    prod = load_repository(root, cluster="clusters/production")
    assert [c.key for c in dev.canaries] == ["dev/backend"]
    assert [c.key for c in prod.canaries] == ["production/backend"]
    assert prod.flux is not None and prod.flux.kustomizations == {
        "production/backend": "flux-system/webapp-production"}


def test_same_canary_rendered_twice_in_one_cluster_is_a_duplicate(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    add_canary(root / "deploy/bases/backend", BACKEND)
    (root / "clusters/dev/webapp-copy.yaml").write_text(
        (root / "clusters/dev/webapp.yaml").read_text().replace("webapp-dev", "webapp-copy"))
    problems = format_problems(load_repository(root, cluster="clusters/dev").problems)
    assert "deploy/bases/backend/canary.yaml:" in problems
    assert "duplicate" in problems


@pytest.mark.parametrize("cluster, expected", [
    pytest.param(None, "config.yaml:1: Config: flux.cluster: the repository holds several "
                 "clusters (clusters/production, clusters/staging); set flux.cluster to the one "
                 "gitbot serves (gitbot validate --cluster DIR)", id="several-clusters"),
    pytest.param("clusters/nowhere", "config.yaml:1: Config: flux.cluster: directory "
                 "'clusters/nowhere' not found in the repository", id="unknown-cluster"),
    pytest.param("clusters/staging", "", id="chosen"),
])
def test_cluster_choice(cluster: str | None, expected: str) -> None:
    specs = load_repository(LAYOUTS / "flux2-kustomize-helm-example", cluster=cluster)
    assert format_problems(specs.problems) == expected


def test_render_error_names_the_flux_kustomization(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    (root / "apps/backend/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - missing.yaml\n")
    problems = format_problems(load_repository(root).problems)
    assert problems.startswith("clusters/my-cluster/apps.yaml:1: Kustomization flux-system/apps: "
                               "kustomize build apps:")


def test_validate_accepts_real_layouts_and_never_reads_helm_templates(tmp_path: Path) -> None:
    runner = CliRunner()
    istio = runner.invoke(cli, ["validate", "--path", str(LAYOUTS / "gitops-istio")])
    assert (istio.exit_code, istio.output) == (
        0, "valid: 1 Canary, 2 MetricTemplate, 0 AlertProvider\n")
    assert "{{" in (LAYOUTS / "podinfo/charts/podinfo/templates/deployment.yaml").read_text()
    podinfo = runner.invoke(cli, ["validate", "--path", str(LAYOUTS / "podinfo")])
    assert (podinfo.exit_code, podinfo.output) == (
        0, "valid: 0 Canary, 0 MetricTemplate, 0 AlertProvider\n")


def test_validate_path_of_a_two_cluster_repository_names_the_cluster_option() -> None:
    runner = CliRunner()
    example = str(LAYOUTS / "flux2-kustomize-helm-example")
    unchosen = runner.invoke(cli, ["validate", "--path", example])
    assert unchosen.exit_code == 2
    assert "set flux.cluster to the one gitbot serves (gitbot validate --cluster DIR)" in (
        unchosen.output)
    chosen = runner.invoke(cli, ["validate", "--path", example, "--cluster", "clusters/staging"])
    assert (chosen.exit_code, chosen.output) == (
        0, "valid: 0 Canary, 0 MetricTemplate, 0 AlertProvider\n")


def test_plain_repository_with_a_helm_chart_never_reads_its_templates(tmp_path: Path) -> None:
    """stefanprodan/podinfo itself (no Flux cluster): `charts/podinfo/templates/*.yaml` are Go
    templates; a broken manifest outside a chart's templates is still reported."""
    root = tmp_path / "podinfo"
    shutil.copytree(LAYOUTS / "podinfo/charts", root / "charts")
    shutil.copytree(LAYOUTS / "podinfo/kustomize", root / "kustomize")
    runner = CliRunner()
    clean = runner.invoke(cli, ["validate", "--path", str(root)])
    assert (clean.exit_code, clean.output) == (0, "valid: 0 Canary, 0 MetricTemplate, "
                                                  "0 AlertProvider\n")
    (root / "templates").mkdir()
    (root / "templates/broken.yaml").write_text("{{ .Values }}: [\n")  # not in a chart
    broken = runner.invoke(cli, ["validate", "--path", str(root)])
    assert broken.exit_code == 2
    assert broken.output.startswith("templates/broken.yaml:2: document: invalid YAML")
