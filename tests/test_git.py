"""Tests for gitbot.adapters.git: sync and repair, commits with trailers, push races, reverts,
side-branch files and process hygiene, all against real bare repositories in tmp_path."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitfixtures import (
    SEED,
    Clone,
    child_processes,
    git,
    make_remote,
    remote_file,
    remote_head,
    write,
)

from gitbot.adapters import git_branches
from gitbot.adapters.git import (
    GitConflictError,
    GitError,
    GitInputError,
    GitRejectedError,
    GitWorkspace,
)
from gitbot.adapters.git_runner import Runner
from gitbot.errors import InvalidInputError, NeedsHumanError, RetryableError

VS = "apps/podinfo/vs.yaml"
DEPLOY = "apps/podinfo/deploy.yaml"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path)


@pytest.fixture
def ws(tmp_path: Path, remote: Path) -> Iterator[GitWorkspace]:
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as workspace:
        workspace.sync()
        yield workspace


@pytest.fixture
def other(tmp_path: Path, remote: Path) -> Clone:
    return Clone(remote, tmp_path / "other")


def commit_file(ws: GitWorkspace, path: str, text: str) -> str:
    """Write one file and commit it; the commit must happen."""
    write(ws.root, path, text)
    sha = ws.commit(f"write {path}")
    assert sha is not None
    return sha


def assert_matches_remote(ws: GitWorkspace, remote: Path) -> None:
    assert ws.head() == remote_head(remote)
    assert not ws.is_dirty()
    for path in SEED:
        assert (ws.root / path).read_text() == remote_file(remote, path), path
    assert git(ws.root, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(ws.root, "status", "--porcelain", "--ignored") == ""


# --- sync ---------------------------------------------------------------------------------


def test_sync_clones_fresh(tmp_path: Path, remote: Path) -> None:
    with GitWorkspace(str(remote), "main", tmp_path / "deep" / "work") as fresh:
        assert fresh.sync() == remote_head(remote)
        assert (fresh.root / VS).read_text() == SEED[VS]
        assert_matches_remote(fresh, remote)


def test_sync_accepts_file_url(tmp_path: Path, remote: Path) -> None:
    with GitWorkspace(remote.as_uri(), "main", tmp_path / "w2") as fresh:
        assert fresh.sync() == remote_head(remote)


def test_sync_follows_remote(ws: GitWorkspace, other: Clone, remote: Path) -> None:
    new = other.change(VS, "route:\n  primary: 90\n  canary: 10\n")
    assert ws.sync() == new
    assert (ws.root / VS).read_text().endswith("canary: 10\n")


def _dirty(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / VS).write_text("garbage\n")
    (ws.root / "README.md").unlink()


def _untracked(ws: GitWorkspace, other: Clone) -> None:
    write(ws.root, "new/dir/file.yaml", "x: 1\n")
    write(ws.root, ".gitignore", "*.log\n")
    write(ws.root, "debug.log", "ignored but removed\n")


def _stuck_rebase(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / VS).write_text("route:\n  primary: 1\n")
    git(ws.root, "commit", "-qam", "local")
    other.change(VS, "route:\n  primary: 2\n")
    git(ws.root, "fetch", "-q", "origin")
    git(ws.root, "rebase", "origin/main", check=False)
    assert (ws.root / ".git" / "rebase-merge").exists()


def _stuck_merge(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / VS).write_text("route:\n  primary: 1\n")
    git(ws.root, "commit", "-qam", "local")
    other.change(VS, "route:\n  primary: 2\n")
    git(ws.root, "fetch", "-q", "origin")
    git(ws.root, "merge", "origin/main", check=False)
    assert (ws.root / ".git" / "MERGE_HEAD").exists()


def _no_index(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / ".git" / "index").unlink()


def _detached(ws: GitWorkspace, other: Clone) -> None:
    git(ws.root, "checkout", "-q", "--detach", "HEAD")


def _garbage_head(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / ".git" / "HEAD").write_text("this is not a ref\n")


def _no_objects(ws: GitWorkspace, other: Clone) -> None:
    import shutil

    shutil.rmtree(ws.root / ".git" / "objects")


def _stale_lock(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / ".git" / "index.lock").write_text("")


def _local_commit(ws: GitWorkspace, other: Clone) -> None:
    (ws.root / VS).write_text("unpushed\n")
    git(ws.root, "commit", "-qam", "unpushed")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_dirty, id="dirty-tracked-files"),
        pytest.param(_untracked, id="untracked-and-ignored-files"),
        pytest.param(_stuck_rebase, id="stuck-rebase"),
        pytest.param(_stuck_merge, id="stuck-merge"),
        pytest.param(_no_index, id="deleted-index"),
        pytest.param(_detached, id="detached-head"),
        pytest.param(_garbage_head, id="corrupt-head-file"),
        pytest.param(_no_objects, id="deleted-object-store"),
        pytest.param(_stale_lock, id="stale-index-lock"),
        pytest.param(_local_commit, id="unpushed-local-commit"),
    ],
)
def test_sync_repairs(
    ws: GitWorkspace, other: Clone, remote: Path, damage: Callable[[GitWorkspace, Clone], None]
) -> None:
    damage(ws, other)
    assert ws.sync() == remote_head(remote)
    assert_matches_remote(ws, remote)
    assert not (ws.root / "new").exists()
    assert not (ws.root / "debug.log").exists()


def test_unreachable_remote_is_retryable_and_keeps_clone(
    tmp_path: Path, ws: GitWorkspace, remote: Path
) -> None:
    head = ws.head()
    remote.rename(tmp_path / "moved.git")
    with pytest.raises(GitError) as caught:
        ws.sync()
    assert isinstance(caught.value, RetryableError)
    assert "fetch" in str(caught.value)
    assert git(ws.root, "rev-parse", "HEAD") == head  # the clone was not thrown away


def test_clone_of_missing_remote_fails_cleanly(tmp_path: Path) -> None:
    with GitWorkspace(str(tmp_path / "nope.git"), "main", tmp_path / "w") as bad, pytest.raises(
        GitError, match="clone"
    ):
        bad.sync()
    assert not (tmp_path / "w").exists()


def test_missing_branch(tmp_path: Path, remote: Path) -> None:
    bad = GitWorkspace(str(remote), "prod", tmp_path / "w")
    with bad, pytest.raises(GitError, match="prod does not exist"):
        bad.sync()


@pytest.mark.parametrize(
    "branch",
    [
        pytest.param("", id="empty"),
        pytest.param("-f", id="option-like"),
        pytest.param("a..b", id="double-dot"),
        pytest.param("has space", id="space"),
        pytest.param("x.lock", id="lock-suffix"),
    ],
)
def test_bad_branch_rejected(tmp_path: Path, branch: str) -> None:
    with pytest.raises(InvalidInputError):
        GitWorkspace("/srv/x.git", branch, tmp_path / "w")


# --- commit and log -----------------------------------------------------------------------


def test_commit_with_trailers_parses_back(ws: GitWorkspace) -> None:
    (ws.root / VS).write_text("route:\n  primary: 90\n  canary: 10\n")
    sha = ws.commit(
        "Advance podinfo.test canary weight 10",
        "Step 1 of 5.",
        [("Gitbot-Canary", "test/podinfo"), ("Gitbot-Action", "advance"), ("Gitbot-Step", "1")],
    )
    assert sha is not None and sha == ws.head()
    newest = ws.log(max_count=1)[0]
    assert newest.sha == sha
    assert newest.subject == "Advance podinfo.test canary weight 10"
    assert newest.body == "Step 1 of 5."
    assert newest.trailers == {
        "Gitbot-Canary": ["test/podinfo"], "Gitbot-Action": ["advance"], "Gitbot-Step": ["1"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", newest.time)
    assert len(newest.parents) == 1
    assert git(ws.root, "log", "-1", "--format=%an <%ae> %cn <%ce>") == (
        "bot <bot@example.com> bot <bot@example.com>"
    )
    parsed = git(ws.root, "log", "-1", "--format=%B")
    assert git_trailers(ws.root, parsed) == "Gitbot-Canary: test/podinfo\nGitbot-Action: advance" \
        "\nGitbot-Step: 1"


def git_trailers(root: Path, message: str) -> str:
    done = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, cwd=root,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_commit_mapping_trailers_without_body(ws: GitWorkspace) -> None:
    (ws.root / "README.md").write_text("changed\n")
    ws.commit("Promote", trailers={"Gitbot-Canary": "test/podinfo", "Gitbot-Action": "promote"})
    info = ws.log(max_count=1)[0]
    assert info.body == ""
    assert info.trailers["Gitbot-Action"] == ["promote"]


def test_reopen_after_close_keeps_work(tmp_path: Path, ws: GitWorkspace, remote: Path) -> None:
    write(ws.root, VS, "edited before close\n")
    ws.close()
    assert ws.is_dirty()  # reopening does not reset
    with GitWorkspace(str(remote), "main", ws.root) as again:
        sha = again.commit("after reopen")
        assert sha is not None and again.push() == remote_head(remote)


def test_commit_nothing_changed_returns_none(ws: GitWorkspace) -> None:
    head = ws.head()
    assert ws.commit("nothing") is None
    (ws.root / VS).write_text(SEED[VS])  # rewritten with identical content
    assert ws.commit("still nothing") is None
    assert ws.head() == head


def test_commit_stages_new_and_deleted_files(ws: GitWorkspace) -> None:
    write(ws.root, "apps/new/canary.yaml", "kind: Canary\n")
    (ws.root / DEPLOY).unlink()
    sha = ws.commit("add and delete")
    assert sha is not None and not ws.is_dirty()
    changed = git(ws.root, "show", "--name-status", "--format=", sha).splitlines()
    assert sorted(changed) == sorted(["A\tapps/new/canary.yaml", f"D\t{DEPLOY}"])


@pytest.mark.parametrize(
    "subject,trailers",
    [
        pytest.param("", (), id="empty-subject"),
        pytest.param("two\nlines", (), id="multiline-subject"),
        pytest.param("ok", [("Bad Key", "v")], id="space-in-key"),
        pytest.param("ok", [("Key", "a\nb")], id="multiline-value"),
    ],
)
def test_commit_rejects_bad_message(ws: GitWorkspace, subject: str, trailers: list[tuple[str, str]]
) -> None:
    (ws.root / VS).write_text("x\n")
    with pytest.raises(GitInputError):
        ws.commit(subject, trailers=trailers)


def test_log_since_and_ancestry(ws: GitWorkspace) -> None:
    base = ws.head()
    shas = [commit_file(ws, VS, f"step {step}\n") for step in range(3)]
    assert [c.sha for c in ws.log(since_sha=base)] == shas[::-1]
    assert [c.sha for c in ws.log(max_count=2)] == shas[:0:-1]
    assert len(ws.log(since_sha="0" * 40)) == 4  # unknown since_sha: whole history
    assert ws.is_ancestor(base, shas[2]) and not ws.is_ancestor(shas[2], base)
    assert ws.has_commit(shas[0]) and not ws.has_commit("0" * 40)
    assert not ws.is_ancestor("0" * 40, base) and not ws.has_commit("--all")


# --- push ---------------------------------------------------------------------------------


def test_push_lands(ws: GitWorkspace, remote: Path) -> None:
    (ws.root / VS).write_text("w 10\n")
    sha = ws.commit("advance")
    assert ws.push() == sha == remote_head(remote)


def test_push_race_on_other_file_rebases(ws: GitWorkspace, other: Clone, remote: Path) -> None:
    (ws.root / VS).write_text("route:\n  primary: 90\n  canary: 10\n")
    ours = ws.commit("advance", trailers={"Gitbot-Action": "advance"})
    theirs = other.change(DEPLOY, "replicas: 3\nimage: podinfo:6.0.1\n")
    pushed = ws.push()
    assert pushed != ours and pushed == remote_head(remote) == ws.head()
    assert git(remote, "merge-base", "--is-ancestor", theirs, pushed, check=False) == ""
    assert remote_file(remote, VS).endswith("canary: 10\n")
    assert remote_file(remote, DEPLOY).startswith("replicas: 3")
    parents = git(remote, "log", "--format=%P", "main").splitlines()
    assert all(len(p.split()) <= 1 for p in parents)  # linear history, no merge commit
    assert git(remote, "log", "-1", "--format=%s", "main") == "advance"
    assert ws.log(max_count=1)[0].trailers == {"Gitbot-Action": ["advance"]}


def test_push_conflict_raises_and_cleans_up(ws: GitWorkspace, other: Clone, remote: Path) -> None:
    (ws.root / VS).write_text("route:\n  primary: 90\n  canary: 10\n")
    ws.commit("advance to 10")
    theirs = other.change(VS, "route:\n  primary: 50\n  canary: 50\n", "manual 50")
    with pytest.raises(GitConflictError) as caught:
        ws.push()
    error = caught.value
    assert isinstance(error, NeedsHumanError)
    assert VS in str(error) and error.files == (VS,)
    assert "advance to 10" in str(error) and "manual 50" in str(error)
    assert remote_head(remote) == theirs
    assert ws.head() == theirs and not ws.is_dirty()
    assert not (ws.root / ".git" / "rebase-merge").exists()


def test_push_retries_bounded(tmp_path: Path, remote: Path, other: Clone) -> None:
    with GitWorkspace(str(remote), "main", tmp_path / "w0", push_retries=0) as tight:
        tight.sync()
        (tight.root / VS).write_text("mine\n")
        tight.commit("mine")
        theirs = other.change(DEPLOY, "replicas: 9\n")
        with pytest.raises(GitError, match="still rejected after 1 attempts"):
            tight.push()
    assert remote_head(remote) == theirs


def test_push_refused_by_hook_needs_human(ws: GitWorkspace, remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    (ws.root / VS).write_text("x\n")
    ws.commit("x")
    with pytest.raises(GitRejectedError) as caught:
        ws.push()
    assert isinstance(caught.value, NeedsHumanError)


# --- revert -------------------------------------------------------------------------------


def test_revert_three_commits_as_one(ws: GitWorkspace, remote: Path) -> None:
    shas = []
    for weight in (10, 20, 30):
        write(ws.root, f"apps/podinfo/step-{weight}.yaml", "x\n")
        shas.append(commit_file(ws, VS, f"route:\n  primary: {100 - weight}\n  canary: {weight}\n"))
    ws.push()
    before = ws.head()
    sha = ws.revert([shas[0], shas[2], shas[1]], "Rollback podinfo.test",
                    trailers={"Gitbot-Action": "rollback"})
    assert sha is not None and git(ws.root, "rev-parse", "HEAD~1") == before
    assert (ws.root / VS).read_text() == SEED[VS]
    assert not list((ws.root / "apps/podinfo").glob("step-*"))
    assert ws.log(max_count=1)[0].trailers == {"Gitbot-Action": ["rollback"]}
    assert ws.push() == remote_head(remote)
    assert remote_file(remote, VS) == SEED[VS]


def test_revert_merge_commit(ws: GitWorkspace, other: Clone) -> None:
    git(other.root, "checkout", "-q", "-b", "feature")
    write(other.root, VS, "route:\n  primary: 0\n  canary: 100\n")
    git(other.root, "commit", "-qam", "feature")
    git(other.root, "checkout", "-q", "main")
    git(other.root, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    git(other.root, "push", "-q", "origin", "main")
    ws.sync()
    merge = ws.log(max_count=1)[0]
    assert len(merge.parents) == 2
    assert ws.revert([merge.sha], "Revert merge") is not None
    assert (ws.root / VS).read_text() == SEED[VS]


def test_revert_to_nothing_returns_none(ws: GitWorkspace) -> None:
    (ws.root / VS).write_text("temp\n")
    first = ws.commit("temp")
    assert first is not None
    undo = ws.revert([first], "undo")
    assert undo is not None
    head = ws.head()
    assert ws.revert([first, undo], "undo both") is None
    assert ws.head() == head and not ws.is_dirty()


def test_revert_conflict_aborts(ws: GitWorkspace) -> None:
    old = commit_file(ws, VS, "a\n")
    commit_file(ws, VS, "b\n")
    head = ws.head()
    with pytest.raises(GitConflictError) as caught:
        ws.revert([old], "revert a only")
    assert caught.value.files == (VS,)
    assert ws.head() == head and not ws.is_dirty()


def test_revert_unknown_commit(ws: GitWorkspace) -> None:
    with pytest.raises(GitInputError):
        ws.revert(["deadbeef" * 5], "nope")


# --- side branch --------------------------------------------------------------------------


def test_branch_file_roundtrip(ws: GitWorkspace, remote: Path) -> None:
    main_head = ws.head()
    assert ws.read_branch_file("gitbot-state", "state.json") is None
    first = ws.write_branch_file("gitbot-state", "canaries/test/podinfo.json", "{\"w\": 10}\n",
                                 "state: podinfo")
    assert git(remote, "log", "--format=%P", first) == ""  # orphan: no parent
    assert ws.read_branch_file("gitbot-state", "canaries/test/podinfo.json") == "{\"w\": 10}\n"
    assert ws.read_branch_file("gitbot-state", "missing.json") is None
    same = ws.write_branch_file("gitbot-state", "canaries/test/podinfo.json", "{\"w\": 10}\n", "s")
    assert same == first == remote_head(remote, "gitbot-state")
    second = ws.write_branch_file("gitbot-state", "canaries/test/podinfo.json", "{\"w\": 20}", "s")
    assert git(remote, "log", "--format=%P", second) == first
    assert ws.read_branch_file("gitbot-state", "canaries/test/podinfo.json") == "{\"w\": 20}"
    assert ws.head() == main_head == remote_head(remote) and not ws.is_dirty()
    assert git(ws.root, "ls-files") == git(remote, "ls-tree", "-r", "--name-only", "main")
    assert git(remote, "ls-tree", "-r", "--name-only", "gitbot-state") == (
        "canaries/test/podinfo.json"
    )


def test_branch_file_concurrent_writer(
    ws: GitWorkspace, tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write_branch_file("gitbot-state", "a.json", "1", "a")
    rival = GitWorkspace(str(remote), "main", tmp_path / "rival")
    real_fetch = git_branches.fetch_branch
    raced = threading.Event()

    def fetch_then_lose_race(run: Runner, branch: str) -> str | None:
        head = real_fetch(run, branch)
        if not raced.is_set():
            raced.set()
            rival.write_branch_file("gitbot-state", "b.json", "2", "b")  # lands first
        return head

    monkeypatch.setattr(git_branches, "fetch_branch", fetch_then_lose_race)
    with rival:
        sha = ws.write_branch_file("gitbot-state", "a.json", "3", "a again")
    assert raced.is_set() and sha == remote_head(remote, "gitbot-state")
    assert remote_file(remote, "a.json", "gitbot-state") == "3"
    assert remote_file(remote, "b.json", "gitbot-state") == "2"
    assert len(git(remote, "rev-list", "gitbot-state").split()) == 3


@pytest.mark.parametrize(
    "branch,path",
    [
        pytest.param("main", "x", id="working-branch"),
        pytest.param("state", "../x", id="dotdot-path"),
        pytest.param("state", "/abs", id="absolute-path"),
        pytest.param("state", ".git/config", id="git-dir-path"),
    ],
)
def test_branch_file_bad_input(ws: GitWorkspace, branch: str, path: str) -> None:
    with pytest.raises(GitInputError):
        ws.write_branch_file(branch, path, "x", "s")


# --- processes ----------------------------------------------------------------------------


def _cycles(ws: GitWorkspace, count: int) -> list[int]:
    samples = []
    for step in range(count):
        ws.sync()
        (ws.root / VS).write_text(f"step {step}\n")
        ws.commit(f"step {step}", trailers={"Gitbot-Action": "advance"})
        ws.push()
        ws.log(max_count=5)
        samples.append(len(child_processes()))
    return samples


def _non_timer_threads() -> int:
    return sum(1 for t in threading.enumerate() if not isinstance(t, threading.Timer))


def _threads_settle(baseline: int) -> bool:
    """GitPython's timeout watchdogs are cancelled Timer threads that exit a moment later."""
    deadline = time.monotonic() + 2
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count() <= baseline


def test_no_process_or_thread_leak_short(ws: GitWorkspace) -> None:
    threads = _non_timer_threads()
    samples = _cycles(ws, 10)
    assert max(samples) == 0, child_processes()
    assert _threads_settle(threads), threading.enumerate()


@pytest.mark.e2e
def test_no_process_leak_300_cycles(ws: GitWorkspace, remote: Path) -> None:
    threads = _non_timer_threads()
    started = time.monotonic()
    samples = _cycles(ws, 300)
    elapsed = time.monotonic() - started
    assert max(samples) == 0, child_processes()
    assert _threads_settle(threads), threading.enumerate()
    assert len(git(remote, "rev-list", "main").split()) == 301
    print(f"300 sync+commit+push cycles in {elapsed:.1f}s; children {set(samples)}")
