"""The state branch read once per pass (BranchSnapshot over a real GitWorkspace and remote)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitfixtures import git

from gitbot.adapters.branch_snapshot import BranchSnapshot
from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.git_branches import Guard, ReadAt
from gitbot.adapters.git_errors import GitError
from gitbot.adapters.statestore import GitStateStore
from gitbot.core.state import Phase, RolloutState
from gitbot.sim.gitops import create_gitops_repo


class Counting:
    """A GitWorkspace that counts whole-branch reads."""

    def __init__(self, ws: GitWorkspace) -> None:
        self.ws, self.reads = ws, 0

    def read_branch_files(self, branch: str, fetch: bool = True) -> tuple[str | None,
                                                                           dict[str, str]]:
        self.reads += 1
        return self.ws.read_branch_files(branch, fetch)

    def ref(self, name: str) -> str | None:
        return self.ws.ref(name)

    def push_with_branch(self, branch: str, files: dict[str, str], subject: str,
                         guard: Guard | None = None) -> str:
        return self.ws.push_with_branch(branch, files, subject, guard)

    def read_branch_file(self, branch: str, path: str) -> str | None:
        return self.ws.read_branch_file(branch, path)

    def write_branch_files(self, branch: str, files: dict[str, str], subject: str,
                           guard: Guard | None = None) -> str:
        return self.ws.write_branch_files(branch, files, subject, guard)

    def write_branch_file_guarded(self, branch: str, path: str, content: str, subject: str,
                                  guard: Guard) -> str:
        return self.ws.write_branch_file_guarded(branch, path, content, subject, guard)

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str:
        return self.ws.write_branch_file(branch, path, content, subject)


def test_read_branch_files_returns_every_file_exactly(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    texts = {"a.json": "{}\n", "canaries/ns/é.json": "naïve ✓\nno newline at end",
             "canaries/ns/empty.json": ""}
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        assert ws.read_branch_files("gitbot/state") == (None, {})
        for path, text in texts.items():
            ws.write_branch_file("gitbot/state", path, text, f"write {path}")
        head, files = ws.read_branch_files("gitbot/state")
        assert files == texts and head == ws.ref("refs/remotes/origin/gitbot/state")


def test_reads_come_from_one_fetch_until_refresh(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    running = RolloutState(phase=Phase.PROGRESSING)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "a") as a, \
            GitWorkspace(str(dev.remote), "main", tmp_path / "b") as b:
        a.sync()
        b.sync()
        counting = Counting(a)
        store = GitStateStore(BranchSnapshot(counting), "gitbot/state")
        store.refresh()  # a pass begins
        assert store.load("test/one") is None
        store.save("test/one", running, "start")  # its own write is seen at once
        assert (store.load("test/one"), store.approval("test/one")) == (running, None)
        other = GitStateStore(b, "gitbot/state")  # `gitbot approve` from another machine
        other.approve("test/one", "r-1", "dana", "2026-11-22T10:00:00Z")
        assert store.approval("test/one") is None
        assert counting.reads == 1
        store.refresh()
        assert store.approval("test/one") == {"rollout": "r-1", "by": "dana",
                                              "time": "2026-11-22T10:00:00Z"}
        assert store.load("test/one") == running
        assert counting.reads == 2
        store.release()  # the pass ended: every read is fresh again
        other.approve("test/one", "r-2", "dana", "2026-11-22T10:05:00Z")
        assert (store.approval("test/one") or {}).get("rollout") == "r-2"
        assert counting.reads == 2


def test_a_bad_path_is_refused_like_a_single_read(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        with pytest.raises(Exception, match="invalid file path"):
            BranchSnapshot(ws).read_branch_file("gitbot/state", "../x")


def test_save_many_writes_every_state_in_one_commit(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    states = [(f"test/c{i}", RolloutState(phase=Phase.PROGRESSING, step=i), "step")
              for i in range(5)]
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        store = GitStateStore(BranchSnapshot(ws), "gitbot/state")
        store.save_many(states)
        _head, commits = ws.read_branch_files("gitbot/state")
        assert sorted(commits) == [f"canaries/test/c{i}.json" for i in range(5)]
        count = git_count(ws, "origin/gitbot/state")
        store.save_many(states)  # unchanged: no new commit
        assert git_count(ws, "origin/gitbot/state") == count == 1
        assert [store.load(k) for k, _, _ in states] == [s for _, s, _ in states]


def test_a_guard_refuses_a_batched_write_before_it_is_pushed(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)

    def refuse(_read: ReadAt) -> None:
        raise GitError("another instance holds the lease")

    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        with pytest.raises(GitError, match="lease"):
            ws.write_branch_files("gitbot/state", {"canaries/a/b.json": "{}", "x": "y"}, "s",
                                  refuse)
        assert ws.read_branch_files("gitbot/state") == (None, {})


def git_count(ws: GitWorkspace, ref: str) -> int:
    return int(git(ws.root, "rev-list", "--count", ref).strip())
