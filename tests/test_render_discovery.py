"""Discovery of Flux clusters and Kustomizations, and the Flux ignore rules (render adapter)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitbot.adapters.render import DiscoveryError, render_repository
from gitbot.adapters.render.discovery import clusters, scan
from gitbot.adapters.render.sourceignore import SourceIgnore

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"


def layout(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root)
    return root


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("gitops-istio", ["clusters/my-cluster"], id="gitops-istio-one-cluster"),
    pytest.param("flux2-kustomize-helm-example", ["clusters/production", "clusters/staging"],
                 id="helm-example-two-clusters"),
    pytest.param("podinfo", ["clusters/dev"], id="podinfo-one-cluster"),
    pytest.param("getting-started", ["clusters/my-cluster"], id="getting-started-flux-system"),
])
def test_clusters_of_real_layouts(name: str, expected: list[str]) -> None:
    root = LAYOUTS / name
    assert clusters(scan(root, SourceIgnore.load(root))) == expected


def test_a_directory_built_by_a_cluster_is_not_another_cluster(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    write(root, "apps/tenant.yaml", (LAYOUTS / "podinfo/clusters/dev/podinfo.yaml").read_text())
    write(root, "kustomize/kustomization.yaml", "resources: [cm.yaml]\n")
    write(root, "kustomize/cm.yaml", CONFIGMAP.format(name="tenant-config"))
    assert clusters(scan(root, SourceIgnore.load(root))) == ["clusters/my-cluster"]
    view = render_repository(root)
    assert view is not None
    # followed recursively: clusters/my-cluster/apps.yaml -> ./apps -> Kustomization podinfo
    assert view.by_name("flux-system/podinfo").find("ConfigMap", "tenant-config",
                                                     namespace="test")


def test_two_clusters_without_flux_cluster_is_a_clear_error() -> None:
    with pytest.raises(DiscoveryError) as err:
        render_repository(LAYOUTS / "flux2-kustomize-helm-example")
    assert str(err.value) == (
        "config.yaml: flux.cluster: the repository holds several clusters (clusters/production, "
        "clusters/staging); set flux.cluster to the one gitbot serves (gitbot validate "
        "--cluster DIR)")


@pytest.mark.parametrize(("cluster", "host", "acme"), [
    pytest.param("clusters/production", "podinfo.production",
                 "https://acme-v02.api.letsencrypt.org/directory", id="production"),
    pytest.param("clusters/staging", "podinfo.staging",
                 "https://acme-staging-v02.api.letsencrypt.org/directory", id="staging"),
])
def test_flux_cluster_selects_only_that_clusters_objects(cluster: str, host: str,
                                                          acme: str) -> None:
    view = render_repository(LAYOUTS / "flux2-kustomize-helm-example", cluster)
    assert view is not None and view.cluster == cluster
    releases = view.find("HelmRelease", "podinfo")
    assert len(releases) == 1
    hosts = releases[0].obj["spec"]["values"]["ingress"]["hosts"]
    assert [h["host"] for h in hosts] == [host]
    issuer = view.by_name("flux-system/infra-configs").find("ClusterIssuer", "letsencrypt")[0]
    assert issuer.obj["spec"]["acme"]["server"] == acme  # the Flux Kustomization's own patch
    assert all(not k.kustomization.path.startswith("clusters/") or
               k.kustomization.path == cluster for k in view.kustomizations)


def test_unknown_flux_cluster_is_an_error() -> None:
    with pytest.raises(DiscoveryError, match=r"flux.cluster: directory 'clusters/prod' not found"):
        render_repository(LAYOUTS / "flux2-kustomize-helm-example", "clusters/prod")


def test_plain_repository_is_none(tmp_path: Path) -> None:
    write(tmp_path, "apps/podinfo/deployment.yaml", CONFIGMAP.format(name="x"))
    write(tmp_path, "apps/podinfo/kustomization.yaml", "resources: [deployment.yaml]\n")
    assert render_repository(tmp_path) is None


def test_external_sources_are_listed_not_rendered() -> None:
    view = render_repository(LAYOUTS / "getting-started")
    assert view is not None
    assert [k.kustomization.key for k in view.kustomizations] == ["flux-system/flux-system"]
    assert [(k.key, str(k.source), k.target_namespace) for k in view.external] == [
        ("flux-system/podinfo", "GitRepository/flux-system/podinfo", "default")]
    assert view.external[0].file == "clusters/my-cluster/podinfo-kustomization.yaml"


@pytest.mark.parametrize(("path", "ignored"), [
    pytest.param(".git/config", True, id="vcs"),
    pytest.param(".github/workflows/e2e.yaml", True, id="ci-dir"),
    pytest.param("apps/.sops.yaml", True, id="extra-anywhere"),
    pytest.param("docs/logo.png", True, id="image-ext"),
    pytest.param("apps/docs/example.yaml", True, id="sourceignore-dir-pattern"),
    pytest.param("apps/notes.md", True, id="sourceignore-ext"),
    pytest.param("apps/backend/keep.md", False, id="nested-sourceignore-negation"),
    pytest.param("apps/backend/skip.yaml", True, id="nested-sourceignore-scoped"),
    pytest.param("skip.yaml", False, id="nested-pattern-not-applied-outside"),
    pytest.param("apps/backend/deployment.yaml", False, id="kept"),
    pytest.param("apps/secret.yaml", True, id="spec-ignore"),
])
def test_ignore_rules(tmp_path: Path, path: str, ignored: bool) -> None:
    root = layout(tmp_path, "gitops-istio")
    write(root, "apps/backend/.sourceignore", "skip.yaml\n!keep.md\n")
    rules = SourceIgnore.load(root, extra="# from spec.ignore\n/apps/secret.yaml\n")
    assert rules.ignored(path) is ignored


@pytest.mark.parametrize(("sourceignore", "rendered"), [
    pytest.param(True, False, id="sourceignore-respected"),
    pytest.param(False, True, id="without-sourceignore-rendered"),
])
def test_sourceignore_keeps_files_out_of_the_build(tmp_path: Path, sourceignore: bool,
                                                   rendered: bool) -> None:
    root = layout(tmp_path, "gitops-istio")
    write(root, "apps/docs/example.yaml", CONFIGMAP.format(name="docs-example"))
    if not sourceignore:
        (root / ".sourceignore").unlink()
    view = render_repository(root)
    assert view is not None
    assert bool(view.find("ConfigMap", "docs-example")) is rendered


@pytest.mark.parametrize(("ignore", "rendered"), [
    pytest.param("/clusters/my-cluster/extra.yaml", False, id="spec-ignore-respected"),
    pytest.param(None, True, id="no-spec-ignore"),
])
def test_gitrepository_spec_ignore(tmp_path: Path, ignore: str | None, rendered: bool) -> None:
    root = layout(tmp_path, "getting-started")
    write(root, "clusters/my-cluster/extra.yaml", CONFIGMAP.format(name="extra"))
    if ignore:
        sync = root / "clusters/my-cluster/flux-system/gotk-sync.yaml"
        text = sync.read_text().replace("  interval: 1m0s\n",
                                        f"  interval: 1m0s\n  ignore: |\n    {ignore}\n", 1)
        sync.write_text(text)
    view = render_repository(root)
    assert view is not None
    assert bool(view.find("ConfigMap", "extra")) is rendered


def test_helm_chart_templates_are_not_read_as_documents() -> None:
    root = LAYOUTS / "podinfo"
    assert "{{" in (root / "charts/podinfo/templates/deployment.yaml").read_text()
    view = render_repository(root)
    assert view is not None
    files = {o.origin.file for o in view.objects()}
    assert not any(f and f.startswith("charts/") for f in files)
    assert {k.kustomization.key for k in view.kustomizations} == {
        "flux-system/flux-system", "flux-system/podinfo", "flux-system/webapp-dev"}


def test_symlinks_do_not_reach_the_artifact(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(CONFIGMAP.format(name="outside"))
    root = layout(tmp_path, "gitops-istio")
    (root / "apps/linked.yaml").symlink_to(outside)
    view = render_repository(root)
    assert view is not None and not view.find("ConfigMap", "outside")
