"""The branch log in memory at scale (HistoryIndex over real workspaces): a lookup asks about
its own canary's commits only, the memory kept stays bounded however many commits other
canaries add, and every answer equals a plain reading of `git log` (interleaved canaries, a
person's commits, a revert, a merge, a reset and a force-push)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from gitfixtures import git, gitbot_commit

from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.history import (
    FIRST_PAGE,
    current_run,
    gitbot_commits,
    is_for,
    last_gitbot_commit,
    tick_history,
    walk,
)
from gitbot.history_index import HistoryIndex
from gitbot.sim.gitops import create_gitops_repo


class PlainLog:
    """One `git log` read, answered as `GitWorkspace.log` would: the reference."""

    def __init__(self, ws: GitWorkspace) -> None:
        self.commits = ws.log(max_count=1 << 30)

    def log(self, max_count: int = 200, since_sha: str | None = None) -> list[CommitInfo]:
        assert since_sha is None
        return self.commits[:max_count]


def _message(key: str, step: int, action: str = "advance") -> str:
    return (f"{key}: step {step}\n\nGitbot-Canary: {key}\nGitbot-Step: {step}\n"
            f"Gitbot-Action: {action}\n")


def _import(root: Path, messages: list[str]) -> None:
    """Empty commits on main with these messages, in one `git fast-import` (fast at scale)."""
    parent = git(root, "rev-parse", "HEAD").strip()
    stamp = int(git(root, "log", "-1", "--format=%ct").strip())
    chunks = []
    for n, text in enumerate(messages):
        data = text.encode()
        chunks.append(f"commit refs/heads/main\ncommitter Bot <bot@example.com> "
                      f"{stamp + n + 1} +0000\ndata {len(data)}\n".encode() + data + b"\n")
        if n == 0:
            chunks.append(f"from {parent}\n".encode())
        chunks.append(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(chunks),
                   check=True, capture_output=True)


def _counting(key: str, asked: list[str]) -> Callable[[CommitInfo], bool]:
    def stop(commit: CommitInfo) -> bool:
        asked.append(commit.sha)
        return is_for(commit, key)

    return stop


def test_a_busy_pass_of_300_canaries_asks_each_lookup_about_its_own_commits(
    tmp_path: Path,
) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        keys = [f"ns{i}/app{i}" for i in range(300)]
        _import(ws.root, [_message(key, 1, "scale-up") for key in keys])  # the last pass
        history = HistoryIndex(ws)
        history.update(ws.head())
        plain = PlainLog(ws)
        asked: list[str] = []
        for key in keys:  # the first canary's last commit lies behind the 299 others'
            found = walk(history, _counting(key, asked), key)
            assert found == walk(plain, _counting(key, []))
        assert len(asked) == len(keys)  # not 300 x 301 / 2 = 45,150
        examined = history.examined
        for n, key in enumerate(keys[:100]):  # a busy pass: each tick reads, then commits
            history_before = tick_history(history, key, None)
            assert history_before[0].sha == ws.head() and is_for(history_before[-1], key)
            assert len(history_before) == len(keys)  # the 299 others' commits since its own
            (ws.root / f"app{n}.txt").write_text("2\n")
            ws.commit(f"{key}: step 2", trailers=[("Gitbot-Canary", key), ("Gitbot-Step", "2"),
                                                  ("Gitbot-Action", "advance")])
            history.update(ws.head())
        assert history.examined - examined == 100
        plain = PlainLog(ws)
        for key in keys[::7]:
            assert tick_history(history, key, None) == tick_history(plain, key, None)
            assert tick_history(history, key, 1) == tick_history(plain, key, 1)


def test_the_log_kept_stays_bounded_while_other_canaries_commit(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        _import(ws.root, [_message("test/quiet", 1, "promote")])  # then idle for good
        history = HistoryIndex(ws)
        busy = [f"team/busy{i}" for i in range(5)]
        kept, reads = [], []
        for n in range(40):  # 40 passes, 2,040 commits of others
            _import(ws.root, [_message(busy[i % 5], n * 10 + i) for i in range(50)]
                    + ["README: an edit by a person\n"])
            before = history.reads
            history.update(ws.head())
            for key in busy:  # the busy canaries' ticks
                assert is_for(tick_history(history, key, None)[-1], key)
            last = history.last_for("test/quiet")  # the idle canary's: its last commit only
            history.trim()
            kept.append(history.kept)
            reads.append(history.reads - before)
        plain = PlainLog(ws)
        assert last == last_gitbot_commit(tick_history(plain, "test/quiet", None), "test/quiet")
        assert last is not None and len(plain.commits) > 2000
        assert max(kept) <= FIRST_PAGE + 51  # not the 2,000 commits back to test/quiet's
        assert reads[1:] == [1] * 39  # `git log old..new` only: test/quiet's was remembered



KEYS = ("test/a", "test/b", "test/c")


def _same_as_git_log(history: HistoryIndex, ws: GitWorkspace) -> None:
    """Every lookup through the index equals the same lookup over a plain `git log`; then the
    index is trimmed, so the next check reads git again where it needs to."""
    history.update(ws.head())
    plain = PlainLog(ws)
    assert history.log(max_count=1 << 30) == plain.commits
    for key in (*KEYS, "test/none"):
        for step in (None, 1, 2):
            assert tick_history(history, key, step) == tick_history(plain, key, step), key
        assert current_run(history, key) == current_run(plain, key)
        assert gitbot_commits(history, key) == gitbot_commits(plain, key)
        assert history.last_for(key) == last_gitbot_commit(tick_history(plain, key, None), key)
    for n in (1, 3, 10):
        assert history.log(max_count=n) == plain.commits[:n]
    history.trim()


def test_every_answer_equals_git_log_through_reverts_merges_resets_and_force_pushes(
    tmp_path: Path,
) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        history = HistoryIndex(ws, keep=2)  # trimmed hard: deeper lookups read git again
        history.update(ws.sync())
        a1 = gitbot_commit(ws, "test/a", 1, "scale-up")
        gitbot_commit(ws, "test/b", 1, "scale-up")
        ws.push()
        _same_as_git_log(history, ws)
        dev.commit_files({"README.md": "# a person's edit\n"}, "README: a person's edit")
        ws.sync()
        _same_as_git_log(history, ws)
        a2 = gitbot_commit(ws, "test/a", 2)
        gitbot_commit(ws, "test/b", 2)
        gitbot_commit(ws, "test/c", 1, "initialize")
        ws.push()
        _same_as_git_log(history, ws)
        reverted = ws.revert([a2, a1], "test/a: rollback", trailers=[
            ("Gitbot-Canary", "test/a"), ("Gitbot-Step", "3"), ("Gitbot-Action", "rollback")])
        assert reverted is not None
        ws.push()
        _same_as_git_log(history, ws)
        gitbot_commit(ws, "test/b", 3)  # a failed tick's local commit, reset away by the sync
        _same_as_git_log(history, ws)
        ws.sync()
        _same_as_git_log(history, ws)
        dev.pull()  # a person merges a branch that holds a commit of their own
        git(dev.clone, "checkout", "-q", "-b", "topic", "HEAD~2")
        (dev.clone / "topic.txt").write_text("topic\n")
        git(dev.clone, "add", "-A")
        git(dev.clone, "commit", "-q", "-m", "topic")
        git(dev.clone, "checkout", "-q", "main")
        git(dev.clone, "merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
        git(dev.clone, "push", "-q", "origin", "main")
        ws.sync()
        _same_as_git_log(history, ws)
        gitbot_commit(ws, "test/c", 2)
        ws.push()
        _same_as_git_log(history, ws)
        git(dev.clone, "fetch", "-q", "origin")  # and force-pushes the branch back in time
        git(dev.clone, "reset", "-q", "--hard", a1)
        (dev.clone / "README.md").write_text("# rewritten\n")
        git(dev.clone, "commit", "-qam", "README: rewritten")
        git(dev.clone, "push", "-q", "--force", "origin", "main")
        ws.sync()
        _same_as_git_log(history, ws)
        gitbot_commit(ws, "test/a", 4, "scale-up")
        ws.push()
        _same_as_git_log(history, ws)
