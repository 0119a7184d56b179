"""Issue 8, files: a hostile or broken file costs its own documents, never the pass, and gitbot
reads and writes nothing outside its working copy.

Real repositories in tmp_path (symlinks, a real FIFO, /dev/zero, a 50 MB file, YAML bombs),
loaded by `load_repository`, `gitbot validate` and the manifest editor. Every case asserts the
exact problem line, that the other canaries still load, and that the directory next to the
repository was neither read (atime) nor written (content, mtime, no new file).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from canaries import canary_yaml
from click.testing import CliRunner

from gitbot.adapters.manifest_types import ManifestNotFoundError, ManifestShapeError
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.safefs import FileRefusedError
from gitbot.adapters.specs import format_problems, load_repository
from gitbot.cli import cli
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: test
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: ghcr.io/stefanprodan/podinfo:6.0.0
"""
BOMB = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [lol]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
    for i in range(9))
DEEP = "items:\n" + "- " * 5000 + "x\n"  # 5,000 nested block sequences on one line
MISSING_ALPHA = ("alpha/canary.yaml:10: Canary test/alpha: targetRef.name: Deployment test/alpha "
                 "not found in the repository")
BOTH = ["test/alpha", "test/beta"]


@dataclass
class World:
    """`tmp/work/repo` (apps alpha and beta) next to `tmp/outside`, which must stay untouched."""

    tmp: Path
    repo: Path
    outside: Path

    def snapshot(self) -> dict[str, tuple[bytes, int, int]]:
        """Content, mtime and atime of every file around the repository (not in it).

        Taking it reads the files, then puts their atime back, so it changes nothing itself.
        """
        seen: dict[str, tuple[bytes, int, int]] = {}
        for path in sorted(self.tmp.rglob("*")):
            if self.repo in (path, *path.parents):
                continue
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
                seen[str(path.relative_to(self.tmp))] = (data, st.st_mtime_ns, st.st_atime_ns)
            else:  # a directory's mtime changes when an entry is created in it
                seen[str(path.relative_to(self.tmp))] = (b"", st.st_mtime_ns, 0)
        return seen


@pytest.fixture
def world(tmp_path: Path) -> World:
    repo = tmp_path / "work" / "repo"
    for name in ("alpha", "beta"):
        (repo / name).mkdir(parents=True)
        (repo / name / "canary.yaml").write_text(canary_yaml(name, "test"), encoding="utf-8")
        (repo / name / "deployment.yaml").write_text(DEPLOYMENT.format(name=name),
                                                     encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "deployment.yaml").write_text(DEPLOYMENT.format(name="alpha"), encoding="utf-8")
    (outside / "canary.yaml").write_text(canary_yaml("gamma", "test"), encoding="utf-8")
    (outside / "token").write_text("hunter2\n", encoding="utf-8")
    old = time.time() - 3 * 86400
    for path in outside.iterdir():  # atime older than a day: any read updates it (relatime)
        os.utime(path, (old + 86400, old))
    return World(tmp_path, repo, outside)


def symlink(rel: str, target: str) -> Callable[[World], None]:
    def make(world: World) -> None:
        path = world.repo / rel
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    return make


def text(rel: str, content: str) -> Callable[[World], None]:
    return lambda world: (world.repo / rel).write_text(content, encoding="utf-8")


def fifo(world: World) -> None:
    os.mkfifo(world.repo / "alpha" / "pipe.yaml")


def huge(world: World) -> None:
    with (world.repo / "huge.yaml").open("w", encoding="utf-8") as out:
        out.write(f"k: {'v' * 1020}\n" * (50 * 1024))


def in_to_in(world: World) -> None:
    (world.repo / "shared").mkdir()
    (world.repo / "alpha" / "deployment.yaml").rename(world.repo / "shared" / "alpha.yaml")
    (world.repo / "alpha" / "deployment.yaml").symlink_to("../shared/alpha.yaml")


CASES = [
    pytest.param(symlink("alpha/deployment.yaml", "../../../outside/deployment.yaml"), [
        MISSING_ALPHA, "alpha/deployment.yaml:1: document: symlink to "
        "../../../outside/deployment.yaml, outside the repository"], ["test/beta"],
        id="symlink-in-to-out"),
    pytest.param(symlink("alpha/zero.yaml", "/dev/zero"), [
        "alpha/zero.yaml:1: document: symlink to /dev/zero, outside the repository"],
        BOTH, id="dev-zero"),
    pytest.param(symlink("alpha/extra.yaml", "missing.yaml"), [
        "alpha/extra.yaml:1: document: dangling symlink (to missing.yaml)"], BOTH,
        id="dangling-symlink"),
    pytest.param(fifo, ["alpha/pipe.yaml:1: document: is a FIFO, not a regular file"], BOTH,
                 id="fifo"),
    pytest.param(text("deep.yaml", DEEP), [
        "deep.yaml:2: document: refused: nested deeper than 100 levels (gitbot's limit)"],
        BOTH, id="deep-nesting"),
    pytest.param(text("bomb.yaml", BOMB), [
        "bomb.yaml:12: document: refused: expands to 2111111 nodes and 3000000 characters "
        "through aliases, over gitbot's limit of 1000000 nodes and 33554432 characters per "
        "document (a YAML bomb?)"], BOTH, id="billion-laughs"),
    pytest.param(text("alpha/dates.yaml", "a: 1\nwhen: 2020-13-45\n"), [
        "alpha/dates.yaml:2: document: invalid YAML: invalid timestamp value"], BOTH,
        id="thirteenth-month"),
    pytest.param(huge, [
        "huge.yaml:1: document: is 52428800 bytes, over gitbot's limit of 4 MiB per file"],
        BOTH, id="50MB-file"),
    pytest.param(in_to_in, [], BOTH, id="symlink-in-to-in"),
    pytest.param(symlink("linked", "../../outside"), [], BOTH, id="symlinked-directory-out"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("make", "problems", "canaries"), CASES)
def test_a_bad_file_costs_only_its_own_documents(
    world: World, make: Callable[[World], None], problems: list[str], canaries: list[str]
) -> None:
    make(world)
    before = world.snapshot()
    specs = load_repository(world.repo)
    assert format_problems(specs.problems).splitlines() == problems
    assert sorted(c.key for c in specs.canaries) == canaries
    result = CliRunner().invoke(cli, ["validate", "--path", str(world.repo)],
                                catch_exceptions=False)
    assert (result.exit_code, result.stdout.splitlines()) == (
        (2, problems) if problems else (0, ["valid: 2 Canary, 0 MetricTemplate, "
                                             "0 AlertProvider"]))
    editor = ManifestEditor(world.repo)
    changes = editor.set_replicas("test", "beta", 0)
    assert [(c.path, c.field, c.old, c.new) for c in changes] == [
        ("beta/deployment.yaml", "spec.replicas", 2, 0)]
    assert editor.save() == ["beta/deployment.yaml"]
    assert world.snapshot() == before


@pytest.mark.parametrize(("others", "tail"), [
    pytest.param(0, "", id="one-unread-file"),
    pytest.param(4, "; beta/b0.yaml: dangling symlink (to gone); beta/b1.yaml: dangling symlink "
                 "(to gone); and 2 more", id="five-unread-files"),
])
def test_the_canary_whose_target_is_refused_gets_the_reason(
    world: World, others: int, tail: str
) -> None:
    symlink("alpha/deployment.yaml", "../../../outside/deployment.yaml")(world)
    for i in range(others):
        symlink(f"beta/b{i}.yaml", "gone")(world)
    before = world.snapshot()
    editor = ManifestEditor(world.repo)
    with pytest.raises(ManifestNotFoundError) as caught:
        editor.set_replicas("test", "alpha", 0)
    assert str(caught.value) == (
        f"Deployment test/alpha not found in any YAML file under {world.repo}; files not read: "
        "alpha/deployment.yaml: symlink to ../../../outside/deployment.yaml, outside the "
        f"repository{tail}")
    assert editor.save() == []
    assert world.snapshot() == before
    assert "replicas: 2" in (world.outside / "deployment.yaml").read_text(encoding="utf-8")


def test_an_in_repository_symlink_is_edited_at_its_target(world: World) -> None:
    in_to_in(world)
    editor = ManifestEditor(world.repo)
    editor.set_replicas("test", "alpha", 0)
    assert editor.save() == ["shared/alpha.yaml"]
    assert os.readlink(world.repo / "alpha" / "deployment.yaml") == "../shared/alpha.yaml"
    assert "  replicas: 0\n" in (world.repo / "shared" / "alpha.yaml").read_text(encoding="utf-8")


def test_a_file_swapped_for_a_symlink_before_saving_is_not_written_through(world: World) -> None:
    editor = ManifestEditor(world.repo)
    editor.set_replicas("test", "beta", 0)
    editor.set_replicas("test", "alpha", 0)  # read while alpha/deployment.yaml was regular
    symlink("alpha/deployment.yaml", "../../../outside/deployment.yaml")(world)
    before = world.snapshot()
    with pytest.raises(FileRefusedError) as caught:
        editor.save()
    assert str(caught.value) == (
        "alpha/deployment.yaml: is a symlink (to ../../../outside/deployment.yaml); gitbot does "
        "not write through symlinks")
    assert world.snapshot() == before  # outside still says `replicas: 2`
    assert "replicas: 2" in (world.repo / "beta" / "deployment.yaml").read_text(encoding="utf-8")


def test_a_traversal_target_name_creates_no_file_above_the_working_copy(world: World) -> None:
    name = "../../../escape"
    (world.repo / "alpha" / "escape.yaml").write_text(DEPLOYMENT.format(name=name),
                                                      encoding="utf-8")
    canary = Canary(name="escape", namespace="test",
                    target=ObjectRef(name, "Deployment", "apps/v1"),
                    service=ServiceSpec(port=9898), analysis=Analysis())
    before = world.snapshot()
    editor = ManifestEditor(world.repo)
    with pytest.raises(FileRefusedError) as caught:
        editor.bootstrap(canary)
    assert str(caught.value) == ("alpha/../../../escape-primary.yaml: not a plain file name; "
                                 "refusing to create it for Canary test/escape")
    assert editor.save() == []
    assert world.snapshot() == before
    assert not list(world.tmp.rglob("escape-*"))


def test_the_atime_probe_sees_a_read(world: World) -> None:
    """The snapshots above would notice a read outside: reading one file changes them."""
    before = world.snapshot()
    (world.outside / "token").read_bytes()
    assert world.snapshot() != before


def test_an_unreadable_configs_file_stops_only_that_bootstrap(world: World) -> None:
    deployment = world.repo / "alpha" / "deployment.yaml"
    deployment.write_text(deployment.read_text(encoding="utf-8") + (
        "        envFrom:\n        - configMapRef:\n            name: alpha-cfg\n"),
        encoding="utf-8")
    (world.repo / "alpha" / "config.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: alpha-cfg\n  namespace: test\n"
        "data:\n  color: blue\n", encoding="utf-8")
    (world.repo / "alpha" / "alpha-primary-configs.yaml").write_text("a: [1\n", encoding="utf-8")
    canary = load_repository(world.repo).canary("test/alpha")
    assert canary is not None
    editor = ManifestEditor(world.repo)
    with pytest.raises(ManifestShapeError) as caught:
        editor.bootstrap(canary)
    assert str(caught.value) == (
        "alpha/alpha-primary-configs.yaml:2: cannot parse YAML: expected ',' or ']', but got "
        "'<stream end>'; cannot add the primary copies of the configs of test/alpha")


def test_a_parse_error_in_a_later_document_has_the_same_line_everywhere(world: World) -> None:
    text("alpha/multi.yaml", "a: 1\n---\n# c\n\nb: [1, 2\nc: 3\n")(world)
    editor = ManifestEditor(world.repo)
    editor.index.scan()
    assert editor.index.skipped == {
        "alpha/multi.yaml": "alpha/multi.yaml:6: cannot parse YAML: expected ',' or ']', but "
                            "got ':'"}
    assert format_problems(load_repository(world.repo).problems) == (
        "alpha/multi.yaml:6: document: invalid YAML: expected ',' or ']', but got ':'")
