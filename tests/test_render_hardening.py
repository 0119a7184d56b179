"""Issue 8 in a Flux layout: a hostile file in a repository that gitbot renders with kustomize
is one clear problem, never a traceback, and nothing outside the repository is read.

The gitops-istio fixture copied to `tmp/work/repo` next to `tmp/outside` (a host token and a
ConfigMap); `gitbot validate --path` through click with exceptions not caught, so a traceback
fails the test. Every case asserts the exact output, the exit status and that no file outside
was read (atime) or written. Cases: kustomization entries climbing out of the repository (a
generator's file, an absolute resource, a Flux Kustomization's components), a billion-laughs
resource (kubectl kustomize alone takes 8 GB and a minute on it), a 5,000-deep Flux document,
a `.sourceignore` symlinked out, and directories nested 1,200 deep (Python 3.11's os.walk
recursion limit), in a Flux layout and in a plain repository.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.adapters.flux_specs import load_flux_specs
from gitbot.cli import cli

LAYOUT = Path(__file__).parent / "data" / "flux_layouts" / "gitops-istio"
SEED = Path(__file__).parent / "data" / "seeds" / "seed001-canary"
LOST_SYSTEM = ("clusters/my-cluster/istio.yaml:1: Kustomization flux-system/istio-system: "
               "kustomize build istio/system: ")
VALID = "valid: 1 Canary, 2 MetricTemplate, 0 AlertProvider"
LOST_APPS = ("clusters/my-cluster/apps.yaml:1: Kustomization flux-system/apps: kustomize build "
             "apps: accumulating resources: ")
OUTSIDE_NOTE = ("is outside the repository; Flux's kustomize-controller refuses files outside its "
                "source, and gitbot never reads them")
BOMB = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [lol]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
    for i in range(9))
DEEP_FLUX = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
             "  name: deep\nspec:\n  x: " + "[" * 5000 + "]" * 5000 + "\n")


@dataclass
class World:
    tmp: Path
    repo: Path
    outside: Path

    def snapshot(self) -> dict[str, tuple[bytes, int, int]]:
        """Content, mtime and atime of every file outside the repository (atime put back)."""
        seen: dict[str, tuple[bytes, int, int]] = {}
        for path in sorted(self.outside.rglob("*")):
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
                seen[path.name] = (data, st.st_mtime_ns, st.st_atime_ns)
        return seen

    def append(self, rel: str, text: str) -> None:
        path = self.repo / rel
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n" + text,
                        encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        (self.repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.repo / rel).write_text(text, encoding="utf-8")


def _world(tmp_path: Path, source: Path) -> World:
    repo = tmp_path / "work" / "repo"
    shutil.copytree(source, repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "token").write_text("hunter2\n", encoding="utf-8")
    (outside / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  a: b\n",
        encoding="utf-8")
    old = time.time() - 3 * 86400
    for path in outside.iterdir():  # atime older than a day: any read updates it (relatime)
        os.utime(path, (old + 86400, old))
    return World(tmp_path, repo, outside)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return _world(tmp_path, LAYOUT)


def generator_file_out(world: World) -> None:
    world.append("apps/backend/kustomization.yaml", "configMapGenerator:\n- name: leak\n"
                 "  files:\n  - token=../../../../outside/token\n")


def absolute_resource(world: World) -> None:
    path = world.repo / "apps/backend/kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("resources:\n", f"resources:\n  - {world.outside / 'cm.yaml'}\n"),
                    encoding="utf-8")


def file_url_resource(world: World) -> None:
    path = world.repo / "apps/backend/kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("resources:\n", f"resources:\n  - file://{world.outside}\n"),
                    encoding="utf-8")


def escaped_resource(world: World) -> None:
    """The path spelled with YAML escapes: no `/` or `..` in the text as written."""
    path = world.repo / "apps/backend/kustomization.yaml"
    target = str(world.outside / "cm.yaml")
    escaped = "".join(f"\\x{ord(c):02x}" if c in "/." else c for c in target)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("resources:\n", f'resources:\n  - "{escaped}"\n'),
                    encoding="utf-8")


def flux_components_out(world: World) -> None:
    world.append("clusters/my-cluster/apps.yaml", "  components:\n  - ../../../outside\n")


def traversal_kustomization_name(world: World) -> None:
    path = world.repo / "clusters/my-cluster/apps.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  name: apps\n", "  name: ../../../escape\n"), encoding="utf-8")


def bomb_resource(world: World) -> None:
    world.write("apps/backend/bomb.yaml", BOMB)
    path = world.repo / "apps/backend/kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  - hpa.yaml\n", "  - hpa.yaml\n  - bomb.yaml\n"),
                    encoding="utf-8")


def deep_flux_document(world: World) -> None:
    world.write("clusters/my-cluster/deep.yaml", DEEP_FLUX)


def sourceignore_out(world: World) -> None:
    (world.repo / "apps" / "sidecar" / ".sourceignore").symlink_to(world.outside / "token")


def deep_directories(world: World) -> None:
    nest(world.repo / "docs", 1200)


NESTED: list[Path] = []


@pytest.fixture(autouse=True)
def _remove_nested() -> Iterator[None]:
    """Deep trees are removed by the test itself: pytest's later clean-up of old temporary
    directories recurses (shutil.rmtree) and would fail on them with a RecursionError."""
    yield
    while NESTED:
        unnest(NESTED.pop())


def nest(top: Path, depth: int) -> None:
    """`depth` directories `a` inside each other under `top`, a YAML file at the bottom."""
    NESTED.append(top)
    top.mkdir(exist_ok=True)
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("a", dir_fd=fd)
            nxt = os.open("a", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open("x.yaml", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"a: 1\n")
        os.close(out)
    finally:
        os.close(fd)


def unnest(top: Path) -> None:
    """Remove what `nest` made under `top`, bottom up, without recursion."""
    fds = [os.open(top, os.O_RDONLY)]
    try:
        while "a" in os.listdir(fds[-1]):
            fds.append(os.open("a", os.O_RDONLY, dir_fd=fds[-1]))
        for name in os.listdir(fds[-1]):
            os.unlink(name, dir_fd=fds[-1])
        while len(fds) > 1:
            os.close(fds.pop())
            os.rmdir("a", dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def cases(world_root: str) -> list[object]:
    return [
        pytest.param(generator_file_out, [
            "apps/backend/kustomization.yaml:21: kustomization: configMapGenerator[0].files[0]: "
            f"'../../../../outside/token' {OUTSIDE_NOTE}", LOST_APPS],
            id="generator-file-climbs-out"),
        pytest.param(absolute_resource, [
            "apps/backend/kustomization.yaml:4: kustomization: resources[0]: "
            f"'{world_root}/outside/cm.yaml' {OUTSIDE_NOTE}", LOST_APPS], id="absolute-resource"),
        pytest.param(file_url_resource, [
            "apps/backend/kustomization.yaml:4: kustomization: resources[0]: "
            f"'file://{world_root}/outside' {OUTSIDE_NOTE}", LOST_APPS], id="file-url-resource"),
        pytest.param(escaped_resource, [
            "apps/backend/kustomization.yaml:4: kustomization: resources[0]: "
            f"'{world_root}/outside/cm.yaml' {OUTSIDE_NOTE}", LOST_APPS], id="escaped-resource"),
        pytest.param(flux_components_out, [
            "clusters/my-cluster/apps.yaml:1: Kustomization flux-system/apps: spec: "
            f"components[0]: '../../../outside' {OUTSIDE_NOTE}"], id="flux-components-climb-out"),
        pytest.param(traversal_kustomization_name, [
            "clusters/my-cluster/apps.yaml:1: document: Kustomization: metadata.name: "
            "'../../../escape' is not a lowercase RFC 1123 subdomain: lower case letters, "
            "digits, '-' and '.', starting and ending with a letter or digit"],
            id="traversal-kustomization-name"),
        pytest.param(bomb_resource, [
            "apps/backend/bomb.yaml:12: document: refused: expands to 2111111 nodes and 3000000 "
            "characters through aliases, over gitbot's limit of 1000000 nodes and 33554432 "
            "characters per document (a YAML bomb?)", LOST_APPS], id="billion-laughs-resource"),
        pytest.param(deep_flux_document, [
            "(flux bootstrap):1: document: Kustomization flux-system/flux-system: kustomize "
            "build clusters/my-cluster: in clusters/my-cluster/deep.yaml: nested deeper than "
            "100 levels (gitbot's limit)"], id="deep-nesting-flux-document"),
        pytest.param(sourceignore_out, [VALID], id="sourceignore-symlinked-out"),
        pytest.param(deep_directories, [VALID], id="directories-1200-deep"),
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("make", "lines"), cases("{tmp}"))
def test_a_hostile_file_in_a_flux_layout_is_one_line_and_nothing_outside_is_read(
    world: World, make: Callable[[World], None], lines: list[str]
) -> None:
    make(world)
    before = world.snapshot()
    result = CliRunner().invoke(cli, ["validate", "--path", str(world.repo)],
                                catch_exceptions=False)
    expected = [line.replace("{tmp}", str(world.tmp)) for line in lines]
    got = result.stdout.splitlines()
    if expected[-1] == LOST_APPS:  # then kustomize's own words for the Kustomization lost
        got[-1] = got[-1][:len(LOST_APPS)]
    assert (result.exit_code, got) == (2 if expected != [VALID] else 0, expected)
    assert world.snapshot() == before


def test_a_kustomization_that_fails_to_build_costs_only_its_own_objects(world: World) -> None:
    """kustomize-controller fails only the broken Kustomization; the canary of another one
    still loads (gitbot used to lose every canary of the cluster)."""
    world.append("istio/system/namespace.yaml", "spec: [unclosed\n")
    specs = load_flux_specs(world.repo, None)
    assert specs is not None
    assert [c.key for c in specs.canaries] == ["prod/backend"]
    assert [str(p)[:len(LOST_SYSTEM)] for p in specs.problems] == [LOST_SYSTEM]


def test_a_refused_file_costs_only_the_kustomizations_that_read_it(world: World) -> None:
    world.write("istio/system/bomb.yaml", BOMB)
    specs = load_flux_specs(world.repo, None)
    assert specs is not None
    assert [c.key for c in specs.canaries] == ["prod/backend"]
    assert [str(p)[:len(LOST_SYSTEM)] for p in specs.problems] == [
        "istio/system/bomb.yaml:12: document: refused: expands to 2111111 nodes and 3000000 "
        "characters through aliases, over gitbot's limit of 1000000 nodes and 33554432 "
        "characters per document (a YAML bomb?)"[:len(LOST_SYSTEM)], LOST_SYSTEM]


def test_directories_1200_deep_in_a_plain_repository(tmp_path: Path) -> None:
    world = _world(tmp_path, SEED)
    nest(world.repo / "docs", 1200)
    result = CliRunner().invoke(cli, ["validate", "--path", str(world.repo)],
                                catch_exceptions=False)
    assert (result.exit_code, result.stdout.strip()) == (
        0, "valid: 1 Canary, 0 MetricTemplate, 0 AlertProvider")
