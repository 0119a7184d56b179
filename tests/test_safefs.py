"""safefs and yamlbudget on real files: symlinks, FIFOs, devices, sizes, atomic writes, bombs.

Everything runs against real files in tmp_path (no mocks): the FIFO is a real `os.mkfifo`, the
device is `/dev/zero`. Each refusal is asserted by its reason, which proves where the code
stopped (before opening, before reading, before writing).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gitbot.adapters import safefs
from gitbot.adapters.safefs import FileRefusedError, read_text, repo_files, write_text
from gitbot.adapters.yamlbudget import MAX_DEPTH, YamlBudgetError, rt_yaml, safe_yaml

BOMB = "a: &a [lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "ok.yaml").write_text("a: 1\n", encoding="utf-8")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.yaml").write_text("token: hunter2\n", encoding="utf-8")
    return repo


def refusal(root: Path, rel: str) -> str:
    with pytest.raises(FileRefusedError) as caught:
        read_text(root, rel)
    assert caught.value.rel == rel
    return caught.value.reason


def test_reads_a_regular_file_and_a_symlink_that_stays_inside(root: Path) -> None:
    (root / "app" / "link.yaml").symlink_to("ok.yaml")
    assert read_text(root, "app/ok.yaml") == "a: 1\n"
    assert read_text(root, "app/link.yaml") == "a: 1\n"


@pytest.mark.parametrize(("make", "reason"), [
    pytest.param(lambda r: (r / "app/x.yaml").symlink_to("../../outside/secret.yaml"),
                 "symlink to ../../outside/secret.yaml, outside the repository", id="symlink-out"),
    pytest.param(lambda r: (r / "app/x.yaml").symlink_to(r.parent / "outside/secret.yaml"),
                 None, id="absolute-symlink-out"),
    pytest.param(lambda r: (r / "app/x.yaml").symlink_to("gone.yaml"),
                 "dangling symlink (to gone.yaml)", id="dangling"),
    pytest.param(lambda r: (r / "app/x.yaml").symlink_to("x.yaml"),
                 "cannot resolve: Too many levels of symbolic links", id="loop"),
    pytest.param(lambda r: os.mkfifo(r / "app/x.yaml"),
                 "is a FIFO, not a regular file", id="fifo"),
    pytest.param(lambda r: (os.mkfifo(r / "app/f"), (r / "app/x.yaml").symlink_to("f")),
                 "is a FIFO, not a regular file", id="symlink-to-fifo-inside"),
    pytest.param(lambda r: (r / "app/x.yaml").symlink_to("/dev/zero"),
                 "symlink to /dev/zero, outside the repository", id="dev-zero"),
    pytest.param(lambda r: (r / "app/x.yaml").mkdir(),
                 "is a directory, not a regular file", id="directory"),
    pytest.param(lambda r: (r / "app/x.yaml").write_bytes(b"a: \xff\n"),
                 "not valid UTF-8 text", id="not-utf8"),
    pytest.param(lambda r: (r / "app/x.yaml").write_bytes(b"#" * (safefs.MAX_BYTES + 1)),
                 "is 4194305 bytes, over gitbot's limit of 4 MiB per file", id="too-big"),
])
def test_refuses_what_is_not_a_regular_file_inside(root: Path, make, reason) -> None:  # type: ignore[no-untyped-def]
    make(root)
    got = refusal(root, "app/x.yaml")
    if reason is None:
        assert got.startswith("symlink to /") and got.endswith(", outside the repository")
    else:
        assert got == reason


def test_refuses_paths_that_leave_the_root_or_enter_git(root: Path) -> None:
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (root / "app" / "cfg.yaml").symlink_to("../.git/config")
    assert refusal(root, "../outside/secret.yaml") == "path leaves the repository"
    assert refusal(root, ".git/config") == "path is inside .git"
    assert refusal(root, "app/cfg.yaml") == "path is inside .git"


def test_a_file_in_a_symlinked_directory_is_not_listed_nor_read_outside(root: Path) -> None:
    (root / "linked").symlink_to(root.parent / "outside")
    (root / "app" / "inner.yaml").symlink_to("ok.yaml")
    (root / "app" / "out.yaml").symlink_to("../../outside/secret.yaml")
    assert repo_files(root, (".yaml",)) == ["app/ok.yaml", "app/out.yaml"]
    assert refusal(root, "linked/secret.yaml") == (
        "resolves outside the repository (a symlinked directory)")


def test_the_size_cap_is_enforced_while_reading(root: Path) -> None:
    (root / "app" / "x.yaml").write_text("k: v\n" * 10, encoding="utf-8")
    assert refusal_with_limit(root, 49) == "is 50 bytes, over gitbot's limit of 49 bytes per file"
    assert read_text(root, "app/x.yaml", limit=50) == "k: v\n" * 10


def refusal_with_limit(root: Path, limit: int) -> str:
    with pytest.raises(FileRefusedError) as caught:
        read_text(root, "app/x.yaml", limit=limit)
    return caught.value.reason


def test_write_replaces_atomically_and_keeps_the_mode(root: Path) -> None:
    target = root / "app" / "ok.yaml"
    target.chmod(0o640)
    before = target.stat().st_ino
    write_text(root, "app/ok.yaml", "a: 2\n")
    assert target.read_text(encoding="utf-8") == "a: 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != before  # a new file renamed over the old one
    write_text(root, "new/dir/file.yaml", "b: 1\n")
    assert (root / "new" / "dir" / "file.yaml").read_text(encoding="utf-8") == "b: 1\n"
    leftovers = [p.name for p in root.rglob("*") if "gitbot-tmp" in p.name]
    assert leftovers == []


@pytest.mark.parametrize(("rel", "make", "reason"), [
    pytest.param("app/x.yaml", lambda r: (r / "app/x.yaml").symlink_to("../../outside/secret.yaml"),
                 "is a symlink (to ../../outside/secret.yaml); gitbot does not write through "
                 "symlinks", id="symlink-out"),
    pytest.param("app/x.yaml", lambda r: (r / "app/x.yaml").symlink_to("ok.yaml"),
                 "is a symlink (to ok.yaml); gitbot does not write through symlinks",
                 id="symlink-in"),
    pytest.param("linked/secret.yaml", lambda r: (r / "linked").symlink_to("../outside"),
                 "directory linked is a symlink or not a directory", id="symlinked-directory"),
    pytest.param("app/x.yaml", lambda r: os.mkfifo(r / "app/x.yaml"),
                 "is a FIFO, not a regular file", id="fifo"),
    pytest.param("../outside/secret.yaml", lambda r: None, "path leaves the repository",
                 id="dot-dot"),
    pytest.param("app/../../outside/secret.yaml", lambda r: None, "path leaves the repository",
                 id="dot-dot-inside"),
    pytest.param(".git/hooks/post-checkout", lambda r: None, "path is inside .git", id="git"),
])
def test_write_refuses_and_writes_nothing(root: Path, rel: str, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    make(root)
    with pytest.raises(FileRefusedError) as caught:
        write_text(root, rel, "token: stolen\n")
    assert caught.value.reason == reason
    assert (root.parent / "outside" / "secret.yaml").read_text(encoding="utf-8") == (
        "token: hunter2\n")
    assert sorted(p.name for p in (root.parent / "outside").iterdir()) == ["secret.yaml"]
    assert not (root / ".git").exists()


def test_new_file_names_must_be_plain(root: Path) -> None:
    assert safefs.new_file(root, "app", "x-primary.yaml", "Canary t/x") == "app/x-primary.yaml"
    with pytest.raises(FileRefusedError) as caught:
        safefs.new_file(root, "app", "../../../escape-primary.yaml", "Canary test/escape")
    assert str(caught.value) == ("app/../../../escape-primary.yaml: not a plain file name; "
                                 "refusing to create it for Canary test/escape")


# YAML budgets ---------------------------------------------------------------------------

def budget_error(text: str) -> tuple[int, str]:
    for make in (rt_yaml, safe_yaml):
        with pytest.raises(YamlBudgetError) as caught:
            list(make().load_all(text))
    mark = caught.value.problem_mark
    assert mark is not None
    return int(mark.line) + 1, str(caught.value.problem)


@pytest.mark.parametrize(("text", "line", "problem"), [
    pytest.param("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 5000)) + "  " * 5000
                 + "c: 1\n", 100, f"nested deeper than {MAX_DEPTH} levels (gitbot's limit)",
                 id="deep-block"),
    pytest.param("a: " + "[" * 5000 + "]" * 5000 + "\n", 1,
                 f"flow collections nested deeper than {MAX_DEPTH} levels (gitbot's limit)",
                 id="deep-flow"),
    pytest.param("a: " + "[" * 2_000_000 + "\n", 1,
                 f"flow collections nested deeper than {MAX_DEPTH} levels (gitbot's limit)",
                 id="deep-flow-unclosed"),
    pytest.param(BOMB, 7, "expands to 2111111 nodes and 3000000 characters through aliases, "
                 "over gitbot's limit of 1000000 nodes and 33554432 characters per document "
                 "(a YAML bomb?)", id="billion-laughs"),
    pytest.param("s: &s " + "x" * 1_000_000 + "\nb: [" + ", ".join(["*s"] * 40) + "]\n", 2,
                 "expands to 41 nodes and 40000000 characters through aliases, over gitbot's "
                 "limit of 1000000 nodes and 33554432 characters per document (a YAML bomb?)",
                 id="long-string-aliased"),
    pytest.param("a: &x [1, *x]\n", 1,
                 "alias *x refers to a node that contains it (a recursive structure)",
                 id="recursive-alias"),
])
def test_yaml_budgets_refuse_while_composing(text: str, line: int, problem: str) -> None:
    assert budget_error(text) == (line, problem)


def test_yaml_within_budget_loads_with_its_aliases() -> None:
    text = "base: &b {image: x}\nnest: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + (
        "\none: *b\ntwo: *b\n")
    data = rt_yaml().load(text)
    assert data["one"] == data["two"] == {"image": "x"}
    assert safe_yaml().load(text)["two"] == {"image": "x"}
