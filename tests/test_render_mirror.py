"""The artifact copy kept between renders (`render.mirror`): updated by the changed paths of a
tracked working tree, it renders exactly what a fresh copy renders, and copies only those paths.

Real `kubectl kustomize` on the mirrored real layouts (tests/data/flux_layouts); the fresh side
is an untracked `RenderCache` (a whole new copy, scan, confine check and digests at every
render; its builds by input digest are the ones test_render_incremental proves equal to full
builds). Real git (a bare remote, a developer clone, `GitWorkspace`, `RepoIndex`) for the
reconciler's wiring. Files copied are counted by the mirror (`copied`, `full`), never timed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitfixtures import Clone, make_remote

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.render import inputs, render_repository
from gitbot.adapters.render.cache import RenderCache
from gitbot.adapters.render.mirror import Tracking
from gitbot.adapters.repo_index import RepoIndex
from gitbot.core.state import Traffic
from gitbot.errors import InvalidInputError

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"
PROBE = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mirror-probe\n"
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"
Outcome = Any


def outcome(root: Path, cluster: str | None, cache: RenderCache) -> Outcome:
    """Everything a render says except build times, or its error."""
    try:
        view = render_repository(root, cluster, cache=cache)
    except InvalidInputError as err:
        return ("refused", str(err))
    assert view is not None
    return ([(r.kustomization, [(o.obj, o.origin) for o in r.objects])
             for r in view.kustomizations], view.external, view.problems)


def tracked(root: Path) -> RenderCache:
    """A cache whose owner reports every change (HEAD never moves: no git here)."""
    return RenderCache(Tracking(root, lambda: "head", lambda _old, _new: None))


@pytest.fixture
def caches() -> Iterator[list[RenderCache]]:
    made: list[RenderCache] = []
    yield made
    for cache in made:
        cache.close()


def write(root: Path, rel: str, text: str) -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    return rel


def listing(root: Path, rel: str, name: str) -> list[str]:
    """Add `name` to the resources of `rel`'s directory's kustomization.yaml, if it has one."""
    kustomization = root / os.path.dirname(rel) / "kustomization.yaml"
    if not kustomization.is_file():
        return []
    doc = yaml.safe_load(kustomization.read_text())
    doc["resources"] = [*(doc.get("resources") or []), name]
    kustomization.write_text(yaml.safe_dump(doc))
    return [kustomization.relative_to(root).as_posix()]


def steps(source: Path, file: str) -> list[tuple[str, Callable[[Path], list[str]], bool]]:
    """(name, change: the paths it changed, whether the mirror copies the whole tree)."""
    here = os.path.dirname(file)
    new, folder = f"{here}/mirror-new.yaml", f"{here}/mirror-dir"

    def edit(root: Path) -> list[str]:
        with (root / file).open("a") as out:
            out.write(PROBE)
        return [file]

    def add(root: Path) -> list[str]:
        return [write(root, new, CONFIG.format(name="mirror-new")),
                *listing(root, file, "mirror-new.yaml")]

    def add_directory(root: Path) -> list[str]:
        return [write(root, f"{folder}/a.yaml", CONFIG.format(name="mirror-a")),
                write(root, f"{folder}/b/c.yaml", CONFIG.format(name="mirror-c"))]

    def delete(root: Path) -> list[str]:
        (root / file).unlink()
        shutil.rmtree(root / folder / "b")
        return [file, f"{folder}/b/c.yaml"]

    def sourceignore(root: Path) -> list[str]:
        path = root / ".sourceignore"
        text = path.read_text() if path.is_file() else ""
        path.write_text(text + ("" if not text or text.endswith("\n") else "\n")
                        + "mirror-new.yaml\n")
        return [".sourceignore"]

    def symlinks(root: Path) -> list[str]:
        (root / f"{here}/mirror-link.yaml").symlink_to("mirror-dir/a.yaml")
        (root / f"{here}/mirror-linkdir").symlink_to("mirror-dir")
        return [f"{here}/mirror-link.yaml", f"{here}/mirror-linkdir"]

    def back(root: Path) -> list[str]:
        write(root, file, (source / file).read_text())
        return [file]

    return [("edit", edit, False), ("add", add, False), ("add-directory", add_directory, False),
            ("delete", delete, False), ("restore", back, False),
            ("sourceignore", sourceignore, True), ("symlink", symlinks, True),
            ("edit-after", edit, False)]


LAYOUT_FILES = [
    pytest.param("gitops-istio", None, "apps/backend/hpa.yaml", id="gitops-istio"),
    pytest.param("flux2-kustomize-helm-example", "clusters/staging",
                 "apps/base/podinfo/namespace.yaml", id="flux2-kustomize-helm-example"),
    pytest.param("flux2-kustomize-helm-example-artifacts", "clusters/staging",
                 "clusters/staging/apps.yaml", id="flux2-kustomize-helm-example-artifacts"),
    pytest.param("flagger-podinfo", None, "kustomize/podinfo/hpa.yaml", id="flagger-podinfo"),
    pytest.param("podinfo", None, "deploy/bases/backend/service.yaml", id="podinfo"),
    pytest.param("getting-started", None, "clusters/my-cluster/podinfo-source.yaml",
                 id="getting-started"),
]


@pytest.mark.parametrize(("name", "cluster", "file"), LAYOUT_FILES)
def test_updated_copy_renders_as_a_fresh_copy_through_edits_deletions_additions(
        tmp_path: Path, caches: list[RenderCache], name: str, cluster: str | None,
        file: str) -> None:
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root)
    cache, fresh = tracked(root), RenderCache()
    caches += [cache, fresh]
    assert outcome(root, cluster, cache) == outcome(root, cluster, fresh)
    assert cache.mirror.full == 1
    seen = {}
    for step, change, whole in steps(LAYOUTS / name, file):
        copied, full = cache.mirror.copied, cache.mirror.full
        cache.changed(change(root))
        seen[step] = outcome(root, cluster, cache)
        assert seen[step] == outcome(root, cluster, fresh), step
        assert cache.mirror.full == full + whole, step
        if not whole:  # only the changed files that reach the artifact
            assert cache.mirror.copied - copied <= 3, step
    assert "mirror-probe" in str(seen["edit"])
    assert seen["delete"] != seen["restore"] != seen["add"]


def kustomization_refusal(root: Path) -> list[str]:
    text = (root / "apps/backend/kustomization.yaml").read_text()
    return [write(root, "apps/backend/kustomization.yaml", text + (
        "configMapGenerator:\n  - name: stolen\n    files:\n      - ../../../../etc/hostname\n"))]


def test_a_refusal_is_caught_in_an_updated_copy_and_lifted_by_the_next_edit(
        tmp_path: Path, caches: list[RenderCache]) -> None:
    root = tmp_path / "gitops-istio"
    shutil.copytree(LAYOUTS / "gitops-istio", root)
    original = (root / "apps/backend/kustomization.yaml").read_text()
    cache, fresh = tracked(root), RenderCache()
    caches += [cache, fresh]
    before = outcome(root, None, cache)
    cache.changed(kustomization_refusal(root))
    refused = outcome(root, None, cache)
    assert refused == outcome(root, None, fresh)
    assert cache.mirror.full == 1  # the refusal came from the one file checked again
    problems = refused[2]
    assert any("apps/backend/kustomization.yaml:" in p and "configMapGenerator[0].files[0]" in p
               and "outside the repository" in p for p in problems), problems
    assert "stolen" not in str(refused)
    cache.changed([write(root, "apps/backend/kustomization.yaml", original)])
    assert outcome(root, None, cache) == before  # the refused (spoiled) copy was replaced


def test_an_unreported_change_is_not_seen_and_unknown_reads_the_whole_tree(
        tmp_path: Path, caches: list[RenderCache]) -> None:
    """The contract: a tracked cache trusts its owner's reports (what RepoIndex wires)."""
    root = tmp_path / "gitops-istio"
    shutil.copytree(LAYOUTS / "gitops-istio", root)
    cache = tracked(root)
    caches.append(cache)
    first = outcome(root, None, cache)
    with (root / "apps/backend/hpa.yaml").open("a") as out:
        out.write(PROBE)
    assert outcome(root, None, cache) == first
    cache.unknown()
    assert "mirror-probe" in str(outcome(root, None, cache))
    assert cache.mirror.full == 2


def layout_files(name: str) -> dict[str, str]:
    top = LAYOUTS / name
    return {p.relative_to(top).as_posix(): p.read_text() for p in sorted(top.rglob("*"))
            if p.is_file()}


@pytest.fixture
def istio(tmp_path: Path) -> Iterator[tuple[GitWorkspace, Clone, RepoIndex]]:
    bare = make_remote(tmp_path, layout_files("gitops-istio"))
    with GitWorkspace(str(bare), "main", tmp_path / "work") as ws:
        repo = RepoIndex(ws.root, ws.changed_paths, head=ws.head)
        try:
            yield ws, Clone(bare, tmp_path / "dev"), repo
        finally:
            repo.close()


def test_a_step_verification_copies_only_the_files_it_wrote(
        istio: tuple[GitWorkspace, Clone, RepoIndex]) -> None:
    ws, _dev, repo = istio
    repo.refresh(ws.sync())
    mirror = repo.renders.mirror

    def step(act: Any) -> tuple[list[str], int]:
        specs = repo.specs()
        assert specs.flux is not None and specs.flux.cache is repo.renders
        canary = specs.canaries[0]
        editor = repo.editor(specs.flux, canary)
        act(editor, canary)
        copied = mirror.copied
        written = editor.save()
        verified = mirror.copied - copied
        sha = ws.commit("step")
        assert sha is not None
        repo.refresh(sha, ours=True)
        assert outcome(ws.root, None, repo.renders) == outcome(ws.root, None, RenderCache())
        return written, verified

    repo.specs()
    assert mirror.full == 1
    files = mirror.copied

    def initialize(editor: Any, canary: Any) -> None:
        editor.bootstrap(canary)
        editor.set_replicas(canary.namespace, canary.target.name, 0)

    written, copied = step(initialize)
    assert copied == len(written) and 0 < copied < files
    for weight in (10, 20, 30):
        written, copied = step(lambda e, c, w=weight: e.set_traffic(
            c, Traffic(primary_weight=100 - w, canary_weight=w)))
        assert written and copied == len(written) < 3
    assert mirror.full == 1  # never the whole tree again


def test_a_head_moved_without_a_refresh_is_followed_by_its_difference(
        istio: tuple[GitWorkspace, Clone, RepoIndex]) -> None:
    """A sync the picture has not followed yet (a pull request proposed again after a
    person's push): the render asks git what differs from the commit its copy shows."""
    ws, dev, repo = istio
    repo.refresh(ws.sync())
    repo.specs()
    copied = repo.renders.mirror.copied
    text = (dev.root / "apps/backend/hpa.yaml").read_text()
    dev.change("apps/backend/hpa.yaml", text + PROBE, "probe")
    ws.sync()  # no refresh
    after = outcome(ws.root, None, repo.renders)
    assert "mirror-probe" in str(after)
    assert after == outcome(ws.root, None, RenderCache())
    assert (repo.renders.mirror.copied - copied, repo.renders.mirror.full) == (1, 1)
    repo.forget()  # anything may have changed: the whole tree again
    assert outcome(ws.root, None, repo.renders) == after
    assert repo.renders.mirror.full == 2


def test_close_removes_the_copy_and_a_later_render_makes_a_new_one(tmp_path: Path) -> None:
    root = tmp_path / "podinfo"
    shutil.copytree(LAYOUTS / "podinfo", root)
    cache = tracked(root)
    first = outcome(root, None, cache)
    directory = cache.mirror._tmp
    assert directory is not None and (directory / "artifact").is_dir()
    cache.close()
    assert not directory.exists()
    assert outcome(root, None, cache) == first
    cache.close()


def test_a_symlinked_flux_file_follows_its_target_changed_alone(
        tmp_path: Path, caches: list[RenderCache]) -> None:
    """Discovery reads a Flux file through a symlink inside the repository; git reports only
    the target when it changes, so the symlinks read are read again at every update."""
    root = tmp_path / "gitops-istio"
    shutil.copytree(LAYOUTS / "gitops-istio", root)
    write(root, ".sourceignore", "/hidden/\n")
    write(root, "hidden/ks.yaml", "# kustomize.toolkit.fluxcd.io: none yet\n")
    (root / "clusters/second").mkdir()
    (root / "clusters/second/ks.yaml").symlink_to("../../hidden/ks.yaml")
    cache, fresh = tracked(root), RenderCache()
    caches += [cache, fresh]
    assert outcome(root, None, cache) == outcome(root, None, fresh)
    apps = (root / "clusters/my-cluster/apps.yaml").read_text()
    cache.changed([write(root, "hidden/ks.yaml", apps.replace("./apps", "./clusters/second"))])
    second = outcome(root, None, cache)
    assert second == outcome(root, None, fresh)
    assert second[0] == "refused" and "several clusters" in second[1]
    assert cache.mirror.full == 1


def test_a_kept_closure_goes_when_a_path_it_probed_appears(tmp_path: Path) -> None:
    """`FileDigests.forget`: a closure is kept across renders until a kustomization file it
    read changes or a path it tested (a named file not there yet, a listed tree) appears or
    goes; other edits keep it."""
    write(tmp_path, "app/kustomization.yaml", "resources: [cm.yaml, later.yaml, ../base]\n")
    write(tmp_path, "app/cm.yaml", CONFIG.format(name="cm"))
    write(tmp_path, "base/kustomization.yaml", "resources: [a.yaml]\n")
    write(tmp_path, "base/a.yaml", CONFIG.format(name="a"))
    digests = inputs.FileDigests()
    first = digests.closure(tmp_path, "app")
    assert "app/later.yaml" not in first.files
    write(tmp_path, "app/cm.yaml", CONFIG.format(name="cm2"))
    digests.forget({"app/cm.yaml"}, set())
    assert digests.closure(tmp_path, "app") is first  # kept: content only
    write(tmp_path, "unrelated/x.yaml", CONFIG.format(name="x"))
    digests.forget(set(), {"unrelated/x.yaml"})
    assert digests.closure(tmp_path, "app") is first  # kept: nothing it tested
    write(tmp_path, "app/later.yaml", CONFIG.format(name="later"))
    digests.forget(set(), {"app/later.yaml"})
    assert "app/later.yaml" in digests.closure(tmp_path, "app").files
    write(tmp_path, "base/b.yaml", CONFIG.format(name="b"))
    digests.forget(set(), {"base/b.yaml"})  # inside a tree it listed
    assert "base/b.yaml" in digests.closure(tmp_path, "app").files
    write(tmp_path, "base/kustomization.yaml", "resources: [a.yaml, ../extra]\n")
    write(tmp_path, "extra/e.yaml", CONFIG.format(name="e"))
    digests.forget({"base/kustomization.yaml"}, {"extra/e.yaml"})
    assert "extra/e.yaml" in digests.closure(tmp_path, "app").files
    assert digests.closure(tmp_path, "app").files == inputs.closure(
        tmp_path, "app", inputs.FileDigests()).files
