"""The branch log in memory (HistoryIndex over a real workspace): the same answers as
`git log`, any history length, incremental reads, a reset read again."""

from __future__ import annotations

from pathlib import Path

from gitfixtures import git, gitbot_commit

from gitbot.adapters.git import GitWorkspace
from gitbot.history import current_run, last_gitbot_commit, tick_history
from gitbot.history_index import HistoryIndex
from gitbot.sim.gitops import create_gitops_repo


def test_a_canary_s_last_commit_is_found_behind_many_others(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        ws.sync()
        ours = gitbot_commit(ws, "test/quiet", 1)
        for n in range(700):  # the other canaries of a big repository keep committing
            git(ws.root, "commit", "-q", "--allow-empty", "-m", f"other {n}",
                "--trailer", f"Gitbot-Canary: test/busy{n % 7}")
        history = HistoryIndex(ws)
        history.update(ws.head())
        found = tick_history(history, "test/quiet", None)
        last = last_gitbot_commit(found, "test/quiet")
        assert last is not None and last.sha == ours
        assert [c.sha for c in found] == [c.sha for c in ws.log(max_count=702)][:701]
        reads = history.reads
        assert last_gitbot_commit(tick_history(history, "test/quiet", None),
                                  "test/quiet") == last
        assert history.reads == reads  # the second tick reads from memory


def test_new_commits_are_read_incrementally_and_a_reset_rereads(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "w") as ws:
        history = HistoryIndex(ws)
        history.update(ws.sync())
        first = gitbot_commit(ws, "test/a", 1, "scale-up")
        ws.push()
        history.update(ws.head())
        assert [c.sha for c in current_run(history, "test/a")] == [first]
        second = gitbot_commit(ws, "test/a", 2)  # never pushed: a failed tick resets it away
        history.update(ws.head())
        reads = history.reads
        assert [c.sha for c in current_run(history, "test/a")] == [second, first]
        assert history.log(max_count=5) == ws.log(max_count=5)
        assert history.reads == reads  # answered from memory
        history.update(ws.sync())
        assert [c.sha for c in current_run(history, "test/a")] == [first]
        assert history.log(max_count=50) == ws.log(max_count=50)
