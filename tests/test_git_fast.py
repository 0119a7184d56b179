"""Commits of named files inside `GitWorkspace.deferred_index()` (gitbot.adapters.git_fast): the
index is brought in step ONCE, right before the next git command that reads it (in the block or
after it), or when the workspace closes; a full sync forgets the debt (it rewrites the index); a
process killed between a commit and the index update leaves a working copy the next `sync`
repairs; the ref moves like git moves it. Fetch leaves git's housekeeping (`gc --auto`) to
every `MAINTAIN_EVERY`-th fetch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitfixtures import make_remote, write

from gitbot.adapters import git, git_fast
from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.git_errors import GitError

VS = "apps/podinfo/vs.yaml"
DEPLOY = "apps/podinfo/deploy.yaml"
ROOT = Path(__file__).resolve().parent.parent


def plain(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[GitWorkspace]:
    remote = make_remote(tmp_path)
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as workspace:
        workspace.sync()
        yield workspace


def three_commits(ws: GitWorkspace) -> list[str]:
    shas = []
    for n, (path, text) in enumerate([(VS, "route:\n  primary: 90\n  canary: 10\n"),
                                      (DEPLOY, "replicas: 3\nimage: podinfo:6.0.0\n"),
                                      (VS, "route:\n  primary: 80\n  canary: 20\n")]):
        write(ws.root, path, text)
        sha = ws.commit(f"step {n}", paths=[path])
        assert sha is not None
        shas.append(sha)
    return shas


def test_a_batch_of_commits_updates_the_index_once_when_a_command_needs_it(
    ws: GitWorkspace, commands: list[str],
) -> None:
    with ws.deferred_index():
        shas = three_commits(ws)
        assert commands == []  # three commits, no git process
    with ws.deferred_index():  # the next pass: fetch and push leave the index alone
        ws.push()
        ws.sync(clean=True)
        assert commands == ["push", "fetch"]
    assert plain(ws.root, "diff", "--cached", "--name-only", "HEAD")  # the index still lags
    assert not ws.is_dirty()  # `git status` through the workspace: settled first
    # (recorded as called: `status` asks, its `before` hook runs `update-index` first)
    assert commands == ["push", "fetch", "status", "update-index"]
    assert plain(ws.root, "status", "--porcelain", "--untracked-files=all") == ""
    assert plain(ws.root, "rev-list", "--max-count=3", "HEAD").split() == shas[::-1]
    assert plain(ws.root, "show", f"HEAD:{VS}") == "route:\n  primary: 80\n  canary: 20"
    plain(ws.root, "fsck", "--no-dangling")


def test_a_command_that_reads_the_index_settles_it_first(ws: GitWorkspace) -> None:
    """A commit that falls back to `git add` + `git commit` (a new file) inside the batch must
    not undo the earlier commits, whose files the index did not know yet."""
    with ws.deferred_index():
        three_commits(ws)
        write(ws.root, "apps/other/vs.yaml", "route: {}\n")
        sha = ws.commit("new file", paths=["apps/other/vs.yaml"])
        assert sha is not None and not ws.is_dirty()
    assert plain(ws.root, "diff", "--name-only", "HEAD~1", "HEAD") == "apps/other/vs.yaml"
    assert plain(ws.root, "show", f"HEAD:{DEPLOY}") == "replicas: 3\nimage: podinfo:6.0.0"
    assert plain(ws.root, "status", "--porcelain", "--untracked-files=all") == ""


def test_closing_the_workspace_settles_the_index(ws: GitWorkspace, commands: list[str]) -> None:
    with ws.deferred_index():
        three_commits(ws)
    ws.close()
    assert commands == ["update-index"]
    assert plain(ws.root, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_full_sync_forgets_the_debt_and_leaves_a_clean_working_copy(
    tmp_path: Path, ws: GitWorkspace, commands: list[str],
) -> None:
    with ws.deferred_index():
        three_commits(ws)
    remote = tmp_path / "remote.git"
    ws.push()
    other = tmp_path / "other"
    plain(tmp_path, "clone", "-q", str(remote), str(other))
    write(other, DEPLOY, "replicas: 5\n")  # someone else's commit: the sync resets to it
    plain(other, "-c", "user.name=dev", "-c", "user.email=dev@example.com",
          "commit", "-qam", "a person's change")
    plain(other, "push", "-q", "origin", "HEAD:main")
    commands.clear()
    assert ws.sync(clean=True) == plain(remote, "rev-parse", "main")
    assert "update-index" not in commands  # checkout -f + reset --hard rewrote the index
    assert plain(ws.root, "status", "--porcelain", "--untracked-files=all") == ""
    assert (ws.root / VS).read_text() == "route:\n  primary: 80\n  canary: 20\n"
    assert (ws.root / DEPLOY).read_text() == "replicas: 5\n"
    ws.close()
    assert "update-index" not in commands


def test_git_housekeeping_runs_every_so_many_fetches(
    ws: GitWorkspace, commands: list[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(git, "MAINTAIN_EVERY", 3)
    for n in range(6):
        write(ws.root, VS, f"route:\n  primary: {90 - n}\n")
        assert ws.commit(f"step {n}", paths=[VS]) is not None  # loose objects, no git commit
        ws.push()
        ws.sync(clean=True)
    # the fixture's sync fetched first (with gc); then fetches 2..7: gc after the 4th and 7th
    assert [c for c in commands if c in ("fetch", "gc")] == [
        "fetch", "fetch", "fetch", "gc", "fetch", "fetch", "fetch", "gc"]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_failing_housekeeping_only_warns(
    ws: GitWorkspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(git, "MAINTAIN_EVERY", 1)
    plain(ws.root, "config", "gc.auto", "bogus")  # git gc refuses to run; fetch does not care
    assert ws.sync(clean=True) == ws.head()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "git gc failed" in warned[0] and "gc.auto" in warned[0]


KILLED = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from gitbot.adapters.git import GitWorkspace
    remote, work = sys.argv[1:3]
    ws = GitWorkspace(remote, "main", Path(work), author_name="bot",
                      author_email="bot@example.com")
    ws.sync()
    with ws.deferred_index():
        (Path(work) / "apps/podinfo/vs.yaml").write_text("route:\\n  primary: 70\\n")
        ws.commit("killed after this commit", paths=["apps/podinfo/vs.yaml"])
        os._exit(86)
""")


def test_killed_between_commit_and_index_update_the_next_sync_repairs(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", KILLED, str(remote), str(work)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 86, done.stderr
    assert plain(work, "log", "-1", "--format=%s") == "killed after this commit"
    assert VS in plain(work, "status", "--porcelain")  # the index still has the old file
    with GitWorkspace(str(remote), "main", work, author_name="bot",
                      author_email="bot@example.com") as again:
        head = again.sync()  # a fresh process never trusts the working copy
        assert head == plain(remote, "rev-parse", "main")
        assert plain(work, "status", "--porcelain", "--untracked-files=all") == ""
        write(work, VS, "route:\n  primary: 60\n")
        assert again.commit("after the restart", paths=[VS]) is not None
        assert again.push() == plain(remote, "rev-parse", "main")


def test_the_ref_moves_with_reflog_lines_like_git_commit(ws: GitWorkspace) -> None:
    before = ws.head()
    write(ws.root, VS, "route:\n  primary: 90\n")
    sha = ws.commit("Advance", paths=[VS])
    assert plain(ws.root, "reflog", "-1", "--format=%H %gs", "main") == f"{sha} commit: Advance"
    assert plain(ws.root, "reflog", "-1", "--format=%H %gs", "HEAD") == f"{sha} commit: Advance"
    assert plain(ws.root, "rev-parse", "HEAD~1") == before


def lock_it(git_dir: Path) -> None:
    (git_dir / "refs/heads/main.lock").write_text("another git\n")


def move_it(git_dir: Path) -> None:
    (git_dir / "refs/heads/main").write_text("1" * 40 + "\n")


@pytest.mark.parametrize(("prepare", "error"), [
    pytest.param(lock_it, "main.lock exists", id="locked-by-another-git"),
    pytest.param(move_it, "it is at 111111111111", id="moved-since-read"),
])
def test_the_ref_is_not_moved_over_a_lock_or_a_change(
    ws: GitWorkspace, prepare: Callable[[Path], None], error: str,
) -> None:
    git_dir = ws.root / ".git"
    old = ws.head()
    prepare(git_dir)
    before = (git_dir / "refs/heads/main").read_text()
    with pytest.raises(GitError, match=error):
        git_fast.move_branch(git_dir, "main", old, "2" * 40, "bot <bot@example.com> 0 +0000",
                             "commit: x")
    assert (git_dir / "refs/heads/main").read_text() == before
    locked = (git_dir / "refs/heads/main.lock").exists()
    assert locked == (prepare is lock_it)  # another's lock stays; ours is removed
