"""RepoIndex: one parsed picture of the checkout, updated by `git diff` between heads.

Real git: a bare remote made by `create_gitops_repo`, a `GitWorkspace` checkout, a developer
clone pushing changes. Each test checks both what is read again and that the picture equals a
fresh scan of the files on disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitfixtures import git

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.manifest_index import ManifestIndex
from gitbot.adapters.repo_index import RepoIndex
from gitbot.adapters.specs import load_repository
from gitbot.sim.gitops import Developer, create_gitops_repo


@pytest.fixture
def dev(tmp_path: Path) -> Developer:
    return create_gitops_repo(tmp_path)


@pytest.fixture
def ws(tmp_path: Path, dev: Developer) -> Iterator[GitWorkspace]:
    with GitWorkspace(str(dev.remote), "main", tmp_path / "work") as workspace:
        yield workspace


def _objects(index: ManifestIndex) -> set[tuple[str, str, str, str, int]]:
    index.scan()
    return {(e.kind, e.namespace, e.name, e.file.rel, e.doc.line) for e in index.entries}


def _same_as_fresh(repo: RepoIndex) -> None:
    assert _objects(repo.manifests()) == _objects(ManifestIndex(repo.root))
    assert repo.specs() == load_repository(repo.root)


def test_an_unchanged_head_reads_nothing_again(ws: GitWorkspace) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths)
    repo.refresh(ws.sync())
    first, index = repo.specs(), repo.manifests()
    reads = repo.reads
    assert reads == 3  # kustomization, deployment, canary
    repo.refresh(ws.sync())
    assert (repo.specs(), repo.manifests(), repo.reads) == (first, index, reads)


def test_a_new_head_rereads_only_the_files_that_changed(
    ws: GitWorkspace, dev: Developer
) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths)
    repo.refresh(ws.sync())
    canary = repo.specs().canaries[0]
    before = repo.editor().target_revision(canary)
    dev.release("6.0.1")
    reads, loads = repo.reads, repo.loads
    repo.refresh(ws.sync())
    assert repo.editor().target_revision(repo.specs().canaries[0]) != before
    assert repo.reads == reads + 1  # deployment.yaml only
    assert repo.loads == loads  # an image changed: the specs stay as they were
    _same_as_fresh(repo)


def test_a_changed_kustomization_namespace_moves_its_folder(
    ws: GitWorkspace, dev: Developer
) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths)
    repo.refresh(ws.sync())
    assert [c.key for c in repo.specs().canaries] == ["test/podinfo"]
    text = dev.read("apps/podinfo/kustomization.yaml").replace("namespace: test", "namespace: web")
    dev.commit_files({"apps/podinfo/kustomization.yaml": text}, "move to web")
    repo.refresh(ws.sync())
    assert repo.manifests().find("Deployment", "web", "podinfo") is not None
    assert repo.specs().canaries == ()  # its Deployment moved away from namespace test
    assert "Deployment test/podinfo not found" in str(repo.specs().problems[0])
    _same_as_fresh(repo)


def test_added_and_deleted_files_come_and_go(ws: GitWorkspace, dev: Developer) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths)
    repo.refresh(ws.sync())
    repo.manifests()
    dev.commit_files({"apps/podinfo/extra.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                      "metadata:\n  name: extra\n"}, "add a ConfigMap")
    repo.refresh(ws.sync())
    assert repo.manifests().find("ConfigMap", "test", "extra") is not None
    dev.pull()
    git(dev.clone, "rm", "-q", "apps/podinfo/extra.yaml")
    git(dev.clone, "commit", "-q", "-m", "remove it")
    git(dev.clone, "push", "-q", "origin", "HEAD:main")
    repo.refresh(ws.sync())
    assert repo.manifests().find("ConfigMap", "test", "extra") is None
    _same_as_fresh(repo)


@pytest.mark.parametrize("saved", [pytest.param(False, id="edited-in-memory"),
                                   pytest.param(True, id="saved-then-reset")])
def test_edits_that_did_not_land_are_forgotten(ws: GitWorkspace, saved: bool) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths)
    head = ws.sync()
    repo.refresh(head)
    editor = repo.editor()
    editor.set_replicas("test", "podinfo", 7)
    if saved:
        repo.saved(editor.save())
        head = ws.sync()  # what the reconciler does after a failed tick
    repo.refresh(head)
    assert repo.editor().get_replicas("test", "podinfo") == 2
    _same_as_fresh(repo)


def test_an_unknown_previous_head_rereads_everything(ws: GitWorkspace) -> None:
    repo = RepoIndex(ws.root, lambda _old, _new: None)
    repo.refresh(ws.sync())
    repo.specs()
    repo.refresh("0" * 40)
    repo.specs()
    assert repo.reads == 6


def test_a_changed_canary_rebuilds_the_specs_and_a_flux_file_turns_rendering_on(
    ws: GitWorkspace, dev: Developer
) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths)
    repo.refresh(ws.sync())
    assert repo.specs().canaries[0].analysis.threshold != 9 and repo.plain()
    text = dev.read("apps/podinfo/canary.yaml")
    changed = re.sub(r"threshold: \d+", "threshold: 9", text)
    dev.commit_files({"apps/podinfo/canary.yaml": changed}, "threshold 9")
    loads = repo.loads
    repo.refresh(ws.sync())
    assert repo.specs().canaries[0].analysis.threshold == 9
    assert repo.loads == loads + 1
    dev.commit_files({"clusters/x/flux.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\n"
                      "kind: Kustomization\nmetadata:\n  name: apps\n"}, "a Flux file")
    repo.refresh(ws.sync())
    assert not repo.plain()
    _same_as_fresh(repo)
