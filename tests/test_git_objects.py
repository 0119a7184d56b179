"""`GitWorkspace.commit` with named paths writes the commit itself (gitbot.adapters.git_objects):
the same commit `git add -A -- paths` + `git commit --cleanup=whitespace` makes, with one git
process instead of two index-refreshing ones, and a clean working tree and index after."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from gitfixtures import make_remote, write

from gitbot.adapters import git_objects
from gitbot.adapters.git import GitWorkspace

VS = "apps/podinfo/vs.yaml"
DEPLOY = "apps/podinfo/deploy.yaml"
BOT = {"GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
       "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "bot@example.com"}
MESSAGE = "Advance  \n\n\n  body line  \n\nGitbot-Step: 1\n"


def plain(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **BOT},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[GitWorkspace, Path]]:
    """gitbot's workspace and a plain clone of the same remote (the reference)."""
    remote = make_remote(tmp_path)
    twin = tmp_path / "twin"
    subprocess.run(["git", "clone", "-q", str(remote), str(twin)], check=True)
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as ws:
        ws.sync()
        yield ws, twin


def edit(root: Path) -> list[str]:
    write(root, VS, "route:\n  primary: 90\n  canary: 10\n")
    return [VS]


def edit_two(root: Path) -> list[str]:
    write(root, VS, "route:\n  primary: 80\n  canary: 20\n")
    write(root, "README.md", "gitops, edited\n")
    return [VS, "README.md"]


def delete_directory(root: Path) -> list[str]:
    (root / VS).unlink()
    (root / DEPLOY).unlink()
    return [VS, DEPLOY]


def executable(root: Path) -> list[str]:
    (root / "README.md").chmod(0o755)
    return ["README.md"]


def new_file(root: Path) -> list[str]:
    write(root, "apps/other/vs.yaml", "route: {}\n")
    return ["apps/other/vs.yaml"]


def stamp_free(text: str) -> str:
    return re.sub(r"> \d+ [+-]\d{4}$", "> TIME", text, flags=re.M)


@pytest.mark.parametrize(("change", "fast"), [
    pytest.param(edit, True, id="one-file-edited"),
    pytest.param(edit_two, True, id="files-in-two-directories"),
    pytest.param(delete_directory, True, id="directory-emptied"),
    pytest.param(executable, False, id="mode-changed-falls-back"),
    pytest.param(new_file, False, id="new-file-falls-back"),
])
def test_the_commit_equals_git_commits_own(
    pair: tuple[GitWorkspace, Path], commands: list[str],
    change: Callable[[Path], list[str]], fast: bool,
) -> None:
    ws, twin = pair
    paths = change(ws.root)
    sha = ws.commit("Advance  ", "  body line  \n\n\n", [("Gitbot-Step", "1")], paths=paths)
    assert sha is not None and sha == ws.head() == plain(ws.root, "rev-parse", "main")
    assert ("add" not in commands and commands.count("update-index") == 1) is fast
    change(twin)
    plain(twin, "add", "-A", "--", *paths)
    plain(twin, "commit", "-q", "--cleanup=whitespace", "-m", "Advance\n\nbody line\n\n"
          "Gitbot-Step: 1\n")
    assert stamp_free(plain(ws.root, "cat-file", "commit", sha)) == \
        stamp_free(plain(twin, "cat-file", "commit", "HEAD"))
    assert plain(ws.root, "status", "--porcelain", "--untracked-files=all") == ""
    assert plain(ws.root, "diff", "--cached", "--name-only") == ""
    plain(ws.root, "fsck", "--no-dangling")


def test_an_unchanged_file_makes_no_commit(
    pair: tuple[GitWorkspace, Path], commands: list[str],
) -> None:
    ws, _twin = pair
    head = ws.head()
    write(ws.root, VS, "route:\n  primary: 100\n  canary: 0\n")  # the same bytes
    assert ws.commit("nothing", paths=[VS]) is None
    assert ws.head() == head and commands == []


def test_commits_in_a_row_chain_and_the_branch_pushes(pair: tuple[GitWorkspace, Path]) -> None:
    ws, _twin = pair
    first = ws.commit("one", paths=edit(ws.root))
    write(ws.root, DEPLOY, "replicas: 3\nimage: podinfo:6.0.0\n")
    second = ws.commit("two", paths=[DEPLOY])
    assert first and second
    assert plain(ws.root, "rev-parse", f"{second}^") == first
    assert ws.push() == second


@pytest.mark.parametrize(("text", "cleaned"), [
    pytest.param("a\n", "a\n", id="clean"),
    pytest.param("\n\na  \n\n\n\nb\t\n\n", "a\n\nb\n", id="blank-runs-and-trailing-space"),
    pytest.param("  \n", "", id="only-blanks"),
])
def test_clean_message_is_git_stripspace(tmp_path: Path, text: str, cleaned: str) -> None:
    done = subprocess.run(["git", "stripspace"], input=text, capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    assert git_objects.clean_message(text) == done.stdout == cleaned


@pytest.mark.parametrize(("body", "trailers"), [
    pytest.param("Step 1 of 5.\n\nChanges:\n- weight 10", [("Gitbot-Step", "1"),
                                                          ("Gitbot-Canary", "test/podinfo")],
                 id="body-and-trailers"),
    pytest.param("", [("Gitbot-Step", "2")], id="trailers-only"),
    pytest.param("Note: looks like a trailer", [], id="body-git-reads-as-trailers"),
    pytest.param("Just text.", [], id="no-trailers"),
    pytest.param("a\n---\nb", [("Gitbot-Step", "3")], id="patch-divider-in-body"),
])
def test_the_log_of_a_written_commit_equals_gits(
    pair: tuple[GitWorkspace, Path], commands: list[str], body: str,
    trailers: list[tuple[str, str]],
) -> None:
    ws, _twin = pair
    parent = ws.head()
    sha = ws.commit("Advance podinfo", body, trailers, paths=edit(ws.root))
    commands.clear()
    remembered = ws.log(max_count=10, since_sha=parent, known=True)
    from_git = ws.log(max_count=10, since_sha=parent)  # not `known`: always asks git
    assert [c.sha for c in from_git] == [sha]
    assert remembered == from_git
    asked = "---" in body or body == "Just text."  # not remembered: git's rules may differ
    assert commands.count("log") == (2 if asked else 1)


@contextmanager
def two_hundred_apps(tmp_path: Path) -> Iterator[GitWorkspace]:
    """A workspace whose `apps/` directory holds 200 apps (one commit of all of them)."""
    remote = make_remote(tmp_path)
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as ws:
        ws.sync()
        for i in range(200):
            write(ws.root, f"apps/app{i:03d}/vs.yaml", "route: {}\n")
        assert ws.commit("200 apps", paths=[f"apps/app{i:03d}/vs.yaml" for i in range(200)])
        yield ws


def test_the_parsed_trees_a_writer_keeps_are_bounded_by_their_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit made by git (a new file) gives the next fast commit a parent tree the writer
    never saw, so a directory of many apps is parsed again each time: what is kept must stay
    bounded by entries (it was 50,000 trees: 20 MB per 100 canaries at 1,000 apps)."""
    monkeypatch.setattr(git_objects.Parsed, "MOST_ENTRIES", 1_000)
    with two_hundred_apps(tmp_path) as ws:
        with ws.deferred_index():  # as in a pass: one writer for all its commits
            kept = [_new_app_then_a_step(ws, i) for i in range(30)]
        assert max(kept) <= 1_000 + 2 * 230  # the bound, plus the last commit's trees
        assert not ws.is_dirty()  # the index settled: nothing else changed
        plain(ws.root, "fsck", "--no-dangling")


def _new_app_then_a_step(ws: GitWorkspace, i: int) -> int:
    """A commit by git (a new file), then a fast one on top: the entries the writer keeps."""
    write(ws.root, f"apps/new{i}/vs.yaml", "route: {}\n")
    assert ws.commit(f"new {i}", paths=[f"apps/new{i}/vs.yaml"])
    write(ws.root, f"apps/app{i:03d}/vs.yaml", f"route: {{weight: {i}}}\n")
    assert ws.commit(f"step {i}", paths=[f"apps/app{i:03d}/vs.yaml"])
    writer = ws._fast._writer
    assert writer is not None
    return writer.kept


def test_a_side_branch_write_of_known_files_is_the_commit_plumbing_makes_without_git(
    tmp_path: Path, commands: list[str],
) -> None:
    """The state branch's commit of files its parent has is written in this process: the
    same tree, parent, identity and message as `read-tree` + `update-index` + `write-tree` +
    `commit-tree`; a new file still goes through that plumbing; unchanged files make none."""
    remote = make_remote(tmp_path)
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as ws:
        ws.sync()
        first = ws.write_branch_files("gitbot-state", {"state/a.json": "{}\n"}, "state: a")
        assert "commit-tree" in commands  # a first commit: plumbing
        commands.clear()
        second = ws.write_branch_files("gitbot-state", {"state/a.json": '{"w": 10}\n'},
                                       "state: a at 10")
        plumbing = {"hash-object", "ls-tree", "read-tree", "update-index", "write-tree",
                    "commit-tree"}
        assert not plumbing & set(commands), commands
        commands.clear()
        same = ws.write_branch_files("gitbot-state", {"state/a.json": '{"w": 10}\n'}, "again")
        assert same == second and not plumbing & set(commands)
        third = ws.write_branch_files("gitbot-state", {"state/a.json": "{}\n",
                                                       "state/b.json": "{}\n"}, "state: b")
        assert "commit-tree" in commands  # a new file: plumbing again
        git_dir = ws.root
        index = tmp_path / "reference-index"
        env = {"GIT_INDEX_FILE": str(index)}
        blob = plain_env(git_dir, env, "hash-object", "-w", "--stdin", stdin='{"w": 10}\n')
        plain_env(git_dir, env, "read-tree", first)
        plain_env(git_dir, env, "update-index", "--add", "--cacheinfo",
                  f"100644,{blob},state/a.json")
        tree = plain_env(git_dir, env, "write-tree")
        made = plain_env(git_dir, {}, "commit-tree", tree, "-p", first, "-m", "state: a at 10")
        assert stamp_free(plain(git_dir, "cat-file", "commit", second)) == \
            stamp_free(plain(git_dir, "cat-file", "commit", made))
        assert plain(git_dir, "rev-parse", f"{third}^") == second
        plain(git_dir, "fsck", "--no-dangling")


def plain_env(cwd: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **BOT, **env},
                          input=stdin, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_next_pass_reads_no_tree_the_last_one_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pass closes its writer (the packs it read are unmapped), but what it parsed is
    kept: the `apps/` directory of many apps is not read and parsed again every pass."""
    reads: list[bytes] = []
    original = git_objects.ObjectWriter._read

    def counted(self: git_objects.ObjectWriter, binsha: bytes) -> bytes:
        reads.append(binsha)
        return original(self, binsha)

    monkeypatch.setattr(git_objects.ObjectWriter, "_read", counted)
    with two_hundred_apps(tmp_path) as ws:
        for step in range(3):  # three passes, one step each
            reads.clear()
            with ws.deferred_index():
                write(ws.root, "apps/app007/vs.yaml", f"route: {{weight: {step}}}\n")
                assert ws.commit(f"step {step}", paths=["apps/app007/vs.yaml"])
            assert len(reads) == (4 if step == 0 else 0)  # commit, root, apps/, apps/app007/
        assert not ws.is_dirty()
        plain(ws.root, "fsck", "--no-dangling")
