"""The branch log kept in memory between ticks and passes: a `LogSource` for `gitbot.history`.

The reconciler owns one `HistoryIndex` and tells it the head after each sync and commit
(`update`). `log(max_count)` answers from memory: the newest commits of the branch, newest
first, exactly as `GitWorkspace.log` would, so `walk`, `tick_history`, `current_run` and
`gitbot_commits` read any history length without a git process per tick. The log is read
lazily (as deep as a reader asked, in `walk`'s growing pages) and extended by the commits added
since the last head (`git log old..new`); when the old head is no longer an ancestor (a reset
dropped local commits, a force-push) it is read again from the new head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from gitbot.adapters.git import CommitInfo


class BranchLog(Protocol):
    """The part of `GitWorkspace` the index reads."""

    @property
    def root(self) -> Path: ...

    def log(self, max_count: int = 200, since_sha: str | None = None,
            known: bool = False) -> list[CommitInfo]: ...


class HistoryIndex:
    def __init__(self, workspace: BranchLog) -> None:
        self._ws = workspace
        self._head = ""
        self._commits: list[CommitInfo] = []  # the newest commits of `_head`, newest first
        self._complete = False  # `_commits` is the whole history
        self.reads = 0  # `git log` processes run (for tests and the benchmark)

    @property
    def root(self) -> Path:
        return self._ws.root

    @property
    def head(self) -> str:
        return self._head

    def update(self, head: str) -> None:
        """The branch is now at `head`."""
        if head == self._head:
            return
        new: list[CommitInfo] = []
        if self._head and self._commits:
            self.reads += 1
            new = self._ws.log(max_count=1 << 30, since_sha=self._head, known=True)
        if new and any(self._head in c.parents for c in new):
            self._commits = new + self._commits
        else:  # first read, or `head` does not descend from the old head: read lazily again
            self._commits, self._complete = [], False
        self._head = head

    def log(self, max_count: int = 200, since_sha: str | None = None,
            known: bool = False) -> list[CommitInfo]:
        """`GitWorkspace.log` of the head given to `update`, from memory when it can."""
        if since_sha is not None or not self._head:
            self.reads += 1
            return self._ws.log(max_count, since_sha)
        if len(self._commits) < max_count and not self._complete:
            self.reads += 1
            self._commits = self._ws.log(max_count=max_count)
            self._complete = len(self._commits) < max_count
        return self._commits[:max_count]
