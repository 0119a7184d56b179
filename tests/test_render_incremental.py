"""Incremental rendering: between two heads only the Flux Kustomizations whose inputs changed
are built again with kustomize, and the picture equals a full render.

Real git (a bare remote, a developer clone pushing, gitbot's `GitWorkspace` and `RepoIndex`)
and real `kubectl kustomize`; builds are counted by the `RenderCache` (`built`, per
Kustomization), never timed.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitfixtures import Clone, git, make_remote

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.render import FluxView, inputs, render_repository
from gitbot.adapters.render.cache import MIN_ENTRIES, RenderCache
from gitbot.adapters.repo_index import RepoIndex
from gitbot.core.state import Traffic

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"
ROOT, APP_A, APP_B, INFRA, PLAIN = ("flux-system/flux-system", "flux-system/app-a",
                                    "flux-system/app-b", "flux-system/infra",
                                    "flux-system/plain")


def flux(name: str, path: str, extra: str = "") -> str:
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            f"metadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n"
            f"  path: ./{path}\n  prune: true\n"
            f"  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}")


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ghcr.io/example/web:1.0.0
          env:
            - name: COLOR
              value: ${color:=none}
"""
POST_BUILD = "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: vars\n"
FILES = {
    "clusters/prod/infra.yaml": flux("infra", "infra"),
    "clusters/prod/app-a.yaml": flux("app-a", "apps/a", "  targetNamespace: team-a\n"),
    "clusters/prod/app-b.yaml": flux("app-b", "apps/b", "  targetNamespace: team-b\n"
                                     + POST_BUILD),
    "clusters/prod/plain.yaml": flux("plain", "plain"),
    "infra/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    "clusters/prod/vars.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n"
                       "  namespace: flux-system\ndata:\n  color: blue\n",
    "base/web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "base/web/deployment.yaml": DEPLOYMENT,
    "apps/a/kustomization.yaml": "resources:\n  - ../../base/web\nnamePrefix: a-\n"
                                 "patches:\n  - path: replicas.yaml\n",
    "apps/a/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                            "spec:\n  replicas: 2\n",
    "apps/a2/kustomization.yaml": "resources:\n  - ../../base/web\nnamePrefix: a2-\n",
    "apps/b/kustomization.yaml": "resources:\n  - ../../base/web\nnamePrefix: b-\n"
                                 "images:\n  - name: ghcr.io/example/web\n    newTag: 2.0.0\n",
    "plain/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n"
                         "data:\n  a: '1'\n",
    "README.md": "a Flux layout\n",
}


def picture(view: FluxView | None) -> Any:
    """Everything a render says except the build times."""
    assert view is not None
    return ([(r.kustomization, [(o.obj, o.origin) for o in r.objects])
             for r in view.kustomizations], view.external)


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    return make_remote(tmp_path, FILES)


@pytest.fixture
def dev(tmp_path: Path, bare: Path) -> Clone:
    return Clone(bare, tmp_path / "dev")


@pytest.fixture
def ws(tmp_path: Path, bare: Path) -> Iterator[GitWorkspace]:
    with GitWorkspace(str(bare), "main", tmp_path / "work") as workspace:
        yield workspace


def rendered(repo: RepoIndex) -> FluxView:
    specs = repo.specs()
    assert specs.flux is not None, specs.problems
    return specs.flux.view


def edit(dev: Clone, path: str, old: str, new: str) -> None:
    text = (dev.root / path).read_text()
    assert old in text, (path, old)
    dev.change(path, text.replace(old, new), f"edit {path}")


def remove(dev: Clone, path: str) -> None:
    git(dev.root, "rm", "-q", path)
    git(dev.root, "commit", "-q", "-m", f"remove {path}")
    git(dev.root, "push", "-q", "origin", "HEAD:main")


APP_C = flux("app-c", "apps/c")
CASES = [
    pytest.param(lambda d: edit(d, "apps/a/replicas.yaml", "replicas: 2", "replicas: 3"),
                 {APP_A}, id="one-overlay-patch"),
    pytest.param(lambda d: edit(d, "apps/b/kustomization.yaml", "2.0.0", "2.1.0"),
                 {APP_B}, id="one-overlay-kustomization"),
    pytest.param(lambda d: edit(d, "base/web/deployment.yaml", "1.0.0", "1.1.0"),
                 {APP_A, APP_B}, id="shared-base"),
    pytest.param(lambda d: edit(d, "clusters/prod/app-a.yaml", "apps/a", "apps/a2"),
                 {ROOT, APP_A}, id="flux-object-path"),
    pytest.param(lambda d: edit(d, "clusters/prod/app-a.yaml", "team-a", "team-x"),
                 {ROOT, APP_A}, id="flux-object-target-namespace"),
    pytest.param(lambda d: edit(d, "clusters/prod/app-b.yaml", "name: vars\n",
                                "name: vars\n    substitute:\n      color: red\n"),
                 {ROOT, APP_B}, id="flux-object-post-build"),
    pytest.param(lambda d: edit(d, "clusters/prod/vars.yaml", "blue", "green"),
                 {ROOT}, id="substitution-source-only-substituted-again"),
    pytest.param(lambda d: edit(d, "infra/namespace.yaml", "team-a", "team-x"),
                 {INFRA}, id="an-independent-kustomization"),
    pytest.param(lambda d: d.change("plain/more.yaml", FILES["plain/config.yaml"].replace(
        "name: plain", "name: more")), {PLAIN}, id="new-file-in-a-generated-directory"),
    pytest.param(lambda d: (d.change("apps/c/kustomization.yaml", "resources: [../../base/web]\n"
                                     "namePrefix: c-\n"),
                            d.change("clusters/prod/app-c.yaml", APP_C)),
                 {ROOT, "flux-system/app-c"}, id="new-kustomization"),
    pytest.param(lambda d: remove(d, "clusters/prod/plain.yaml"), {ROOT},
                 id="removed-kustomization"),
    pytest.param(lambda d: d.change("README.md", "changed\n"), set(), id="outside-every-input"),
]


@pytest.mark.parametrize(("change", "rebuilt"), CASES)
def test_a_new_head_rebuilds_only_kustomizations_whose_inputs_changed(
        ws: GitWorkspace, dev: Clone, change: Any, rebuilt: set[str]) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths, head=ws.head)
    repo.refresh(ws.sync())
    before = rendered(repo)
    assert repo.renders.built == Counter({ROOT: 1, INFRA: 1, APP_A: 1, APP_B: 1, PLAIN: 1})
    counted = Counter(repo.renders.built)
    change(dev)
    repo.refresh(ws.sync())
    after = rendered(repo)
    assert set((repo.renders.built - counted).elements()) == rebuilt
    assert picture(after) == picture(render_repository(ws.root))
    assert (picture(after) == picture(before)) == (not rebuilt)
    assert repo.renders.mirror.full == 1  # only the new head's changed files copied


def test_a_changed_substitution_source_reaches_the_objects_built_before(
        ws: GitWorkspace, dev: Clone) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths, head=ws.head)
    repo.refresh(ws.sync())

    def color() -> str:
        web = rendered(repo).by_name(APP_B).find("Deployment", "b-web")[0].obj
        return str(web["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"])

    assert color() == "blue"
    edit(dev, "clusters/prod/vars.yaml", "blue", "green")
    repo.refresh(ws.sync())
    assert color() == "green"
    assert repo.renders.built[APP_B] == 1  # substituted again, not built again


def test_an_unchanged_head_and_a_return_to_an_earlier_tree_build_nothing(
        ws: GitWorkspace, dev: Clone) -> None:
    repo = RepoIndex(ws.root, ws.changed_paths, head=ws.head)
    repo.refresh(ws.sync())
    first = picture(rendered(repo))
    edit(dev, "apps/a/replicas.yaml", "replicas: 2", "replicas: 3")
    repo.refresh(ws.sync())
    rendered(repo)
    builds = repo.renders.builds
    edit(dev, "apps/a/replicas.yaml", "replicas: 3", "replicas: 2")  # back to the first tree
    repo.refresh(ws.sync())
    assert picture(rendered(repo)) == first
    repo.forget()  # even a whole re-read renders nothing: the inputs are the same
    assert picture(rendered(repo)) == first
    assert repo.renders.builds == builds


LAYOUT_EDITS = [
    pytest.param("gitops-istio", None, "apps/backend/hpa.yaml", {"flux-system/apps"},
                 id="gitops-istio"),
    pytest.param("flux2-kustomize-helm-example", "clusters/staging",
                 "apps/base/podinfo/namespace.yaml", {"flux-system/apps"},
                 id="flux2-kustomize-helm-example"),
    pytest.param("flux2-kustomize-helm-example-artifacts", "clusters/staging",
                 "clusters/staging/apps.yaml", {"flux-system/flux-system"},
                 id="flux2-kustomize-helm-example-artifacts"),
    pytest.param("flagger-podinfo", None, "kustomize/podinfo/hpa.yaml", {"flux-system/podinfo"},
                 id="flagger-podinfo"),
    pytest.param("podinfo", None, "deploy/bases/backend/service.yaml", {"flux-system/webapp-dev"},
                 id="podinfo"),
    pytest.param("getting-started", None, "clusters/my-cluster/podinfo-source.yaml",
                 {"flux-system/flux-system"}, id="getting-started"),
]
PROBE = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: incremental-probe\n"


@pytest.mark.parametrize(("name", "cluster", "file", "rebuilt"), LAYOUT_EDITS)
def test_fixture_layouts_render_incrementally_as_a_full_render(
        tmp_path: Path, name: str, cluster: str | None, file: str, rebuilt: set[str]) -> None:
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root)
    cache = RenderCache()
    cold = render_repository(root, cluster, cache=cache)
    assert picture(cold) == picture(render_repository(root, cluster))
    assert picture(render_repository(root, cluster, cache=cache)) == picture(cold)
    assert cache.hits == cache.builds  # the second render built nothing
    counted = Counter(cache.built)
    with (root / file).open("a") as out:
        out.write(PROBE)
    after = render_repository(root, cluster, cache=cache)
    assert set((cache.built - counted).elements()) == rebuilt
    assert picture(after) == picture(render_repository(root, cluster))
    assert "incremental-probe" in str(picture(after))


def layout_files(name: str) -> dict[str, str]:
    top = LAYOUTS / name
    return {p.relative_to(top).as_posix(): p.read_text() for p in sorted(top.rglob("*"))
            if p.is_file()}


def test_each_step_verification_builds_only_the_edited_kustomization(tmp_path: Path) -> None:
    """gitops-istio through the reconciler's pieces: the FluxEditor verifies its edits through
    the pass' cache, and the pass after gitbot's own commit builds nothing."""
    bare = make_remote(tmp_path, layout_files("gitops-istio"))
    with GitWorkspace(str(bare), "main", tmp_path / "work") as ws:
        repo = RepoIndex(ws.root, ws.changed_paths, head=ws.head)
        repo.refresh(ws.sync())

        def step(act: Any) -> set[str]:
            specs = repo.specs()
            assert specs.flux is not None and specs.flux.cache is repo.renders
            canary = specs.canaries[0]
            counted = Counter(repo.renders.built)
            editor = repo.editor(specs.flux, canary)
            act(editor, canary)
            editor.save()
            built = set((repo.renders.built - counted).elements())
            sha = ws.commit("step")
            assert sha is not None
            repo.refresh(sha, ours=True)
            builds = repo.renders.builds
            assert picture(rendered(repo)) == picture(render_repository(ws.root))
            assert repo.renders.builds == builds  # the verified tree is not rendered again
            return built

        rendered(repo)
        assert repo.renders.built == Counter({"flux-system/flux-system": 1,
                                              "flux-system/istio-system": 1,
                                              "flux-system/istio-gateway": 1,
                                              "flux-system/apps": 1})

        def initialize(editor: Any, canary: Any) -> None:
            editor.bootstrap(canary)
            editor.set_replicas(canary.namespace, canary.target.name, 0)

        assert step(initialize) == {"flux-system/flux-system", "flux-system/apps",
                                    "flux-system/gitbot-apps"}
        assert step(lambda e, c: e.set_traffic(c, Traffic(primary_weight=90,
                                                           canary_weight=10))) == {
            "flux-system/gitbot-apps"}
        # scaled up under its HPA: no replicas, the team's files as they were at the start,
        # whose build is still in the cache
        assert step(lambda e, c: e.set_replicas(c.namespace, c.target.name, 1)) == set()
        assert step(lambda e, c: e.set_traffic(c, Traffic(primary_weight=50,
                                                          canary_weight=50))) == {
            "flux-system/gitbot-apps"}


CLOSURE = {
    "apps/a/kustomization.yaml": (
        "resources: [../../base/web, extra.yaml, ../../../outside.yaml]\n"
        "components: [../../components/c]\n"
        "configMapGenerator:\n  - name: x\n    files: [conf=../../conf/app.properties]\n"
        "    envs: [../../conf/env]\n"
        "patches:\n  - path: ../../patches/p.yaml\n"
        "  - patch: |-\n      - op: add\n        path: /spec/replicas\n        value: 2\n"
        "replacements:\n  - path: ../../repl/r.yaml\n"),
    "apps/a/extra.yaml": "kind: ConfigMap\n",
    "base/web/kustomization.yaml": "resources: [deployment.yaml, ../../shared/ns.yaml]\n",
    "base/web/deployment.yaml": "kind: Deployment\n",
    "shared/ns.yaml": "kind: Namespace\n",
    "shared/other.yaml": "kind: Namespace\n",
    "components/c/kustomization.yaml": "kind: Component\n",
    "conf/app.properties": "a=1\n",
    "conf/env": "B=2\n",
    "conf/unused": "C=3\n",
    "patches/p.yaml": "kind: Deployment\n",
    "patches/q.yaml": "kind: Deployment\n",
    "repl/r.yaml": "source: {}\n",
    "unrelated/x.yaml": "kind: ConfigMap\n",
}


def test_the_inputs_of_a_build_follow_every_reference_of_its_kustomization_files(
        tmp_path: Path) -> None:
    for rel, text in CLOSURE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = inputs.closure(tmp_path, "apps/a", inputs.FileDigests())
    assert not found.volatile
    assert set(found.files) == set(CLOSURE) - {
        "shared/other.yaml", "conf/unused", "patches/q.yaml", "unrelated/x.yaml"}


@pytest.mark.parametrize("resource", [
    pytest.param("https://github.com/example/repo//deploy?ref=v1", id="https"),
    pytest.param("github.com/example/repo/deploy?ref=v1", id="github-shorthand"),
    pytest.param("git@github.com:example/repo.git//deploy", id="ssh"),
])
def test_a_remote_resource_makes_a_build_volatile(tmp_path: Path, resource: str) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app/kustomization.yaml").write_text(f"resources:\n  - {resource}\n")
    assert inputs.closure(tmp_path, "app", inputs.FileDigests()).volatile


def test_the_cache_keeps_a_bounded_number_of_builds_the_latest_ones(tmp_path: Path) -> None:
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    cache = RenderCache()
    patch = tmp_path / "apps/a/replicas.yaml"
    for replicas in range(3, 3 + MIN_ENTRIES):  # the cluster's 5 builds, then 1 per change
        patch.write_text(FILES["apps/a/replicas.yaml"].replace("2", str(replicas)))
        render_repository(tmp_path, cache=cache)
    assert cache.builds == 5 + MIN_ENTRIES - 1
    assert cache.size == MIN_ENTRIES  # the oldest app-a builds were dropped
    builds = cache.builds
    render_repository(tmp_path, cache=cache)
    assert cache.builds == builds  # what the last render used is still there
