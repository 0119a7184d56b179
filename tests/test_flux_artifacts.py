"""Flux 2.7 ExternalArtifacts of an ArtifactGenerator that relocates parts of the repository
(flux2-kustomize-helm-example today): rendered from the repository paths, FILE:LINE origins on
real files, gitbot's own Kustomization reading the GitRepository, refused shapes skipped with
the reason, and rendered inputs outside the copied directories refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from canaries import canary_yaml, layout_with_canary
from click.testing import CliRunner

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_placement import built_elsewhere
from gitbot.adapters.helm_editor import HelmEditor
from gitbot.adapters.render import render_repository
from gitbot.adapters.render.artifacts import Refused, resolve
from gitbot.adapters.render.cache import RenderCache
from gitbot.adapters.render.model import FluxKustomization, Origin, RenderedObject, SourceRef
from gitbot.adapters.specs import load_repository
from gitbot.cli import cli
from gitbot.core.helm_scale import scaled_replicas
from gitbot.core.state import Traffic

ARTIFACTS = "flux2-kustomize-helm-example-artifacts"
CLUSTER = "clusters/production"
REPO = SourceRef("GitRepository", "flux-system", "flux-system")


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return layout_with_canary(tmp_path, canary_yaml(target_port="http"), ARTIFACTS)


def validate(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--path", str(root), "--cluster", CLUSTER])
    return result.exit_code, result.output


def test_validate_finds_the_canary_and_its_release_at_repository_files(root: Path) -> None:
    code, output = validate(root)
    assert code == 0, output
    assert output.startswith(
        "Canary podinfo/podinfo: target rendered by HelmRelease podinfo/podinfo "
        "(apps/base/podinfo/release.yaml:1, Kustomization flux-system/apps)\n")
    assert output.endswith("valid: 1 Canary, 0 MetricTemplate, 0 AlertProvider\n")
    assert "skipped" not in output and "not applied" not in output
    view = render_repository(root, CLUSTER)
    assert view is not None and not view.external and not view.problems
    apps = view.by_name("flux-system/apps").kustomization
    assert (apps.path, apps.artifact, apps.copied) == (
        "apps/production", "flux-system/apps", ("apps/base", "apps/production"))
    assert view.by_name("flux-system/infra-configs").kustomization.path == \
        "infrastructure/configs"
    canary = view.find("Canary", "podinfo")[0]
    assert (canary.origin.file, canary.origin.line) == ("apps/base/podinfo/canary.yaml", 1)


def editor(root: Path) -> HelmEditor:
    specs = load_repository(root, cluster=CLUSTER)
    assert specs.ok and specs.flux is not None, specs.problems
    found = editor_for(root, specs.flux, specs.canaries[0])
    assert isinstance(found, HelmEditor)
    return found


def test_initialization_puts_gitbot_files_where_a_git_repository_kustomization_reads_them(
        root: Path) -> None:
    ed = editor(root)
    canary = load_repository(root, cluster=CLUSTER).canaries[0]
    ed.bootstrap_primary(canary)
    ed.save()
    ed = editor(root)
    ed.bootstrap(canary)
    ed.set_traffic(canary, Traffic())
    ed.set_replicas("podinfo", "podinfo", 0)
    written = ed.save()
    assert "apps/production/kustomization.yaml" in written  # the overlay, a repository file
    own = yaml.safe_load((root / "clusters/production/gitbot-apps.yaml").read_text())
    assert own["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
    assert own["spec"]["path"] == "./gitbot/clusters/production/apps"
    view = render_repository(root, CLUSTER)
    assert view is not None and not view.problems and not view.external
    mine = view.by_name("flux-system/gitbot-apps")
    assert mine.kustomization.artifact is None
    primary = mine.find("HelmRelease", "podinfo-primary", "podinfo")
    assert primary and primary[0].origin.file == \
        "gitbot/clusters/production/apps/podinfo-primary.yaml"
    team = view.find("HelmRelease", "podinfo", "podinfo")
    assert len(team) == 1 and scaled_replicas(dict(team[0].obj)) == 0
    assert editor(root).is_bootstrapped(canary)


BASE_COPY = '        - from: "@monorepo/apps/base/**"\n          to: "@artifact/base/"\n'


@pytest.mark.parametrize("file, old, new, named", [
    pytest.param("clusters/production/artifacts.yaml", BASE_COPY, "",
                 "apps/production/kustomization.yaml names apps/base/podinfo",
                 id="base-not-copied"),
    pytest.param("apps/production/kustomization.yaml", "- path: podinfo-values.yaml",
                 "- path: ../staging/podinfo-values.yaml",
                 "apps/production/kustomization.yaml names apps/staging/podinfo-values.yaml",
                 id="patch-file-not-copied"),
])
def test_an_input_outside_the_copied_directories_is_refused(root: Path, file: str, old: str,
                                                            new: str, named: str) -> None:
    """It would build in the repository, but not from the artifact in the cluster."""
    edited = root / file
    assert old in edited.read_text()
    edited.write_text(edited.read_text().replace(old, new))
    view = render_repository(root, CLUSTER)
    assert view is not None
    assert "flux-system/apps" not in [k.kustomization.key for k in view.kustomizations]
    copied = "apps/production" if file.startswith("clusters") else "apps/base, apps/production"
    assert view.problems == (
        f"clusters/production/apps.yaml:2: Kustomization flux-system/apps: {named}, outside "
        f"what ExternalArtifact flux-system/apps copies ({copied}): it builds in the "
        "repository but not in the cluster; not rendered",)
    code, output = validate(root)
    assert code == 2 and named in output


def generator(artifacts: list[dict[str, Any]],
              sources: list[dict[str, Any]] | None = None) -> RenderedObject:
    doc = {"apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
           "metadata": {"name": "flux-system", "namespace": "flux-system"},
           "spec": {"sources": sources if sources is not None else
                    [{"alias": "monorepo", "kind": "GitRepository", "name": "flux-system"}],
                    "artifacts": artifacts}}
    return RenderedObject(doc, Origin("flux-system/flux-system", "clusters/p/artifacts.yaml", 2))


def copy(source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"from": source, "to": target, **extra}


def team(path: str = "production", name: str = "apps") -> FluxKustomization:
    return FluxKustomization("apps", "flux-system", path,
                             SourceRef("ExternalArtifact", name, "flux-system"),
                             {"path": f"./{path}"}, "clusters/p/apps.yaml", 2)


APPS = [copy("@monorepo/apps/base/**", "@artifact/base/"),
        copy("@monorepo/apps/production/**", "@artifact/production/")]


@pytest.mark.parametrize("copies, path, expected", [
    pytest.param(APPS, "production", ("apps/production", ("apps/base", "apps/production")),
                 id="example-apps"),
    pytest.param([copy("@monorepo/infrastructure/**", "@artifact/")], "configs",
                 ("infrastructure/configs", ("infrastructure",)), id="whole-directory"),
    pytest.param([copy("@monorepo/**", "@artifact/")], "apps/production",
                 ("apps/production", (".",)), id="whole-repository"),
    pytest.param([copy("@monorepo/apps/production/**", "@artifact/production/",
                       strategy="Overwrite")], "production/eu",
                 ("apps/production/eu", ("apps/production",)), id="default-strategy-sub-path"),
])
def test_accepted_generator_shapes(copies: list[dict[str, Any]], path: str,
                                   expected: tuple[str, tuple[str, ...]]) -> None:
    found = resolve(team(path), [generator([{"name": "apps", "originRevision": "@monorepo",
                                             "copy": copies}])], REPO)
    assert (found.path, found.copied) == expected
    assert (found.source, found.artifact) == (REPO, "flux-system/apps")


OCI = [{"alias": "monorepo", "kind": "OCIRepository", "name": "flux-system"}]
TWO = [{"alias": "monorepo", "kind": "GitRepository", "name": "flux-system"},
       {"alias": "other", "kind": "GitRepository", "name": "other"}]
OTHER_REPO = [{"alias": "monorepo", "kind": "GitRepository", "name": "podinfo"}]


@pytest.mark.parametrize("copies, sources, path, reason", [
    pytest.param([copy("@monorepo/apps/base/**", "@artifact/base/", exclude=["*.md"])], None,
                 "base", "copy[0]: exclude not supported", id="exclude"),
    pytest.param([copy("@monorepo/apps/base/**", "@artifact/common/")], None, "common",
                 "copy[0]: '@artifact/common/' renames '@monorepo/apps/base/**'", id="renames"),
    pytest.param([copy("@monorepo/apps/base/**", "@artifact/base/"),
                  copy("@monorepo/teams/production/**", "@artifact/production/")], None,
                 "production", "copies from several repository directories (apps, teams)",
                 id="differing-prefixes"),
    pytest.param(APPS, TWO, "production", "spec.sources: one source (the repository) is "
                 "supported, found 2", id="several-sources"),
    pytest.param(APPS, OCI, "production", "spec.sources: OCIRepository/flux-system/flux-system "
                 "is not the repository's GitRepository/flux-system/flux-system", id="oci-source"),
    pytest.param(APPS, OTHER_REPO, "production", "spec.sources: GitRepository/flux-system/"
                 "podinfo is not the repository's", id="another-git-repository"),
    pytest.param([copy("@monorepo/apps/base/*.yaml", "@artifact/base/")], None, "base",
                 "only from '@monorepo/<dir>/**' to '@artifact/<dir>/' is supported",
                 id="file-glob"),
    pytest.param([copy("@monorepo/apps/base/**", "@artifact/base/", strategy="Merge")], None,
                 "base", "strategy 'Merge' not supported", id="merge-strategy"),
    pytest.param(APPS, None, "staging", "spec.path ./staging is not among the directories",
                 id="path-not-copied"),
])
def test_refused_generator_shapes(copies: list[dict[str, Any]],
                                  sources: list[dict[str, Any]] | None, path: str,
                                  reason: str) -> None:
    with pytest.raises(Refused, match=None) as caught:
        resolve(team(path), [generator([{"name": "apps", "copy": copies}], sources)], REPO)
    assert reason in str(caught.value)
    assert str(caught.value).startswith("clusters/p/artifacts.yaml:2: ArtifactGenerator "
                                        "flux-system/flux-system") or "spec.path" in reason


@pytest.mark.parametrize("objects, reason", [
    pytest.param([], "no rendered ArtifactGenerator in namespace flux-system produces 'apps'",
                 id="no-generator"),
    pytest.param([generator([{"name": "infrastructure", "copy": APPS}])],
                 "no rendered ArtifactGenerator", id="other-artifact-only"),
    pytest.param([generator([{"name": "apps", "copy": APPS}])] * 2,
                 "several rendered ArtifactGenerators produce 'apps'", id="two-generators"),
])
def test_an_artifact_without_one_generator_is_refused(objects: list[RenderedObject],
                                                      reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        resolve(team(), objects, REPO)


def test_a_refused_artifact_is_skipped_with_the_reason(root: Path) -> None:
    artifacts = root / "clusters/production/artifacts.yaml"
    artifacts.write_text(artifacts.read_text().replace(
        '          to: "@artifact/production/"\n',
        '          to: "@artifact/production/"\n          exclude: ["*.md"]\n'))
    code, output = validate(root)
    assert code == 0
    assert ("note: clusters/production/apps.yaml:2: Kustomization flux-system/apps: skipped: its "
            "source ExternalArtifact/flux-system/apps is not the repository's "
            "GitRepository/flux-system/flux-system; gitbot does not see what it applies "
            "(clusters/production/artifacts.yaml:2: ArtifactGenerator flux-system/flux-system: "
            "artifact 'apps': copy[1]: exclude not supported)\n") in output
    assert "infra-configs" not in output  # the infrastructure artifact is still rendered
    assert output.endswith("valid: 0 Canary, 0 MetricTemplate, 0 AlertProvider\n")


def test_a_cached_render_keeps_the_artifact_kustomizations(root: Path) -> None:
    cache = RenderCache()
    first = render_repository(root, CLUSTER, cache=cache)
    again = render_repository(root, CLUSTER, cache=cache)
    assert first is not None and again is not None
    assert cache.hits >= 4 and again.by_name("flux-system/apps").kustomization.path == \
        "apps/production"
    assert [o.origin for o in again.objects()] == [o.origin for o in first.objects()]


@pytest.mark.parametrize("staging_path, file, elsewhere", [
    pytest.param("./staging", "apps/production/extra.yaml", False, id="own-overlay"),
    pytest.param("./production", "apps/production/extra.yaml", True,
                 id="another-cluster-artifact-reads-it"),
    pytest.param("./", "apps/production/extra.yaml", True, id="another-artifact-root"),
])
def test_an_other_clusters_artifact_kustomization_counts_as_building_a_file(
        root: Path, staging_path: str, file: str, elsewhere: bool) -> None:
    """The other cluster's paths are relative to its artifact: conservatively matched by name
    (a shared file is then set by a patch, never edited in place for both clusters)."""
    apps = root / "clusters/staging/apps.yaml"
    apps.write_text(apps.read_text().replace("path: ./staging", f"path: {staging_path}"))
    flux = load_repository(root, cluster=CLUSTER).flux
    assert flux is not None
    obj = RenderedObject({"kind": "ConfigMap", "metadata": {"name": "x"}},
                         Origin("flux-system/apps", file, 1))
    assert built_elsewhere(root, flux, obj) is elsewhere
