"""The branch log kept in memory between ticks and passes: a `KeyedLogSource` for `gitbot.history`.

The reconciler owns one `HistoryIndex` and tells it the head after each sync and commit
(`update`), and that a pass ended (`trim`). `log(max_count)` answers from memory: the newest
commits of the branch, newest first, exactly as `GitWorkspace.log` would, so `walk`,
`tick_history`, `current_run` and `gitbot_commits` read any history length without a git
process per tick.

Cost. Each canary's commits are indexed by their `Gitbot-Canary` trailer (`walk_key`): a
lookup for one canary asks its `stop` about that canary's commits only, then cuts the log at
the one accepted (a busy pass of N canaries: N lookups of about one commit each, not N x N).
`last_for` remembers each canary's last commit (what the applied-revision gate waits for), so
an idle canary, whose last commit lies ever deeper behind the others', reads no history.

Memory. The log is read lazily (as deep as a reader asked, in `walk`'s growing pages) and
extended by the commits added since the last head (`git log old..new`); `trim` then keeps only
what the pass' lookups needed (at least `FIRST_PAGE` commits): a deeper reader reads git
again. When the new head is not the old one plus a chain of single-parent commits (a reset
dropped local commits, a force-push, a merge) the log is read again from the new head.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gitbot.adapters.git import CommitInfo
from gitbot.history import (
    FIRST_PAGE,
    GROWTH,
    for_cluster,
    last_gitbot_commit,
    tick_history,
    walk,
)

NOT_YET = object()  # `last_for` has not looked this canary up since the head moved


class BranchLog(Protocol):
    """The part of `GitWorkspace` the index reads."""

    @property
    def root(self) -> Path: ...

    def log(self, max_count: int = 200, since_sha: str | None = None,
            known: bool = False) -> list[CommitInfo]: ...


class HistoryIndex:
    def __init__(self, workspace: BranchLog, keep: int = FIRST_PAGE) -> None:
        self._ws = workspace
        self._keep = keep  # `trim` keeps at least the newest `keep` commits
        self._head = ""
        # the newest commits of `_head`, OLDEST first: the commit at index i has the serial
        # number `_base + i`, which stays the same while newer commits are appended
        self._chron: list[CommitInfo] = []
        self._base = 0
        self._keys: dict[str, list[int]] = {}  # canary key -> serials of its commits, ascending
        self._complete = False  # `_chron` is the whole history
        self._needed: int | None = None  # the oldest serial a lookup needed since `trim`
        self._last: dict[str, dict[str | None, object]] = {}  # `last_for`'s, by key, cluster
        self.reads = 0  # `git log` processes run (for tests and the benchmark)
        self.examined = 0  # commits `walk_key` asked a `stop` about (tests, benchmark)

    @property
    def root(self) -> Path:
        return self._ws.root

    @property
    def head(self) -> str:
        return self._head

    @property
    def kept(self) -> int:
        """How many commits are held in memory (tests, benchmark)."""
        return len(self._chron)

    def update(self, head: str) -> None:
        """The branch is now at `head`."""
        if head == self._head:
            return
        new: list[CommitInfo] = []
        if self._head and self._chron:
            self.reads += 1
            new = self._ws.log(max_count=1 << 30, since_sha=self._head, known=True)
        if new and _chain(new, head, self._head):
            self._append(new)
            for key in {_key(c) for c in new}:  # their last commit may be a new one
                self._last.pop(key, None)
        else:  # first read, a merge, or `head` does not descend from the old head
            self._reset()
        self._head = head

    def log(self, max_count: int = 200, since_sha: str | None = None,
            known: bool = False) -> list[CommitInfo]:
        """`GitWorkspace.log` of the head given to `update`, from memory when it can."""
        if since_sha is not None or not self._head:
            self.reads += 1
            return self._ws.log(max_count, since_sha)
        if len(self._chron) < max_count and not self._complete:
            self._read(max_count)
        return self._chron[: -max_count - 1 if max_count < len(self._chron) else None: -1]

    def walk_key(self, key: str, stop: Callable[[CommitInfo], bool]) -> list[CommitInfo]:
        """`history.walk(self, stop)` for a `stop` that accepts only commits of canary `key`:
        asks it about `key`'s commits only, newest first, reading older history when needed."""
        return self._walk_key(key, stop, needed=True)

    def last_for(self, key: str, cluster: str | None = None) -> CommitInfo | None:
        """The canary's last commit as the tick's history shows it (`last_gitbot_commit` of
        `tick_history`), remembered until one of its commits is added or the head jumps."""
        known = self._last.setdefault(key, {})
        found = known.get(cluster, NOT_YET)
        if found is NOT_YET:
            history = tick_history(_Unneeded(self), key, None, cluster)
            found = known[cluster] = last_gitbot_commit(for_cluster(history, cluster), key)
        assert found is None or isinstance(found, CommitInfo)
        return found

    def trim(self) -> None:
        """A pass ended: keep only the commits its lookups needed (at least `keep`)."""
        top = self._base + len(self._chron)
        oldest = top - self._keep
        if self._needed is not None:
            oldest = min(oldest, self._needed)
        self._needed = None
        drop = oldest - self._base
        if drop <= 0:
            return
        del self._chron[:drop]
        self._base, self._complete = oldest, False
        for key in list(self._keys):
            serials = self._keys[key]
            del serials[: bisect_left(serials, oldest)]
            if not serials:
                del self._keys[key]

    def _walk_key(self, key: str, stop: Callable[[CommitInfo], bool], needed: bool
                  ) -> list[CommitInfo]:
        if not self._head:  # not told the head yet: `log` reads the workspace
            return walk(self, stop)
        below = self._base + len(self._chron)  # the serials under it are not asked yet
        size = FIRST_PAGE
        while True:
            if len(self._chron) < size and not self._complete:
                self._read(size)
            serials = self._keys.get(key, [])
            for at in range(bisect_left(serials, below) - 1, -1, -1):
                serial = serials[at]
                self.examined += 1
                if stop(self._chron[serial - self._base]):
                    if needed:
                        self._need(serial)
                    return self._chron[: serial - self._base - 1 if serial > self._base
                                       else None: -1]
            if self._complete:
                if needed:
                    self._need(self._base)
                return self._chron[::-1]
            below = self._base
            size = max(size, len(self._chron)) * GROWTH

    def _need(self, serial: int) -> None:
        self._needed = serial if self._needed is None else min(self._needed, serial)

    def _read(self, max_count: int) -> None:
        """Read the newest `max_count` commits of the head again (deeper than kept)."""
        self.reads += 1
        newest_first = self._ws.log(max_count=max_count)
        top = self._base + len(self._chron)  # serials stay: the head has not moved
        self._chron, self._keys = [], {}
        self._base = top - len(newest_first)
        self._append(newest_first)
        self._complete = len(newest_first) < max_count

    def _append(self, newest_first: list[CommitInfo]) -> None:
        """Add commits newer than every kept one."""
        serial = self._base + len(self._chron)
        for commit in reversed(newest_first):
            key = _key(commit)
            if key:
                self._keys.setdefault(key, []).append(serial)
            self._chron.append(commit)
            serial += 1

    def _reset(self) -> None:
        self._chron, self._keys, self._base = [], {}, 0
        self._complete, self._needed = False, None
        self._last.clear()


class _Unneeded:
    """The index for `last_for`'s lookups, which `trim` does not keep history for."""

    def __init__(self, index: HistoryIndex) -> None:
        self._index = index

    def log(self, max_count: int = 200, since_sha: str | None = None) -> list[CommitInfo]:
        return self._index.log(max_count, since_sha)

    def walk_key(self, key: str, stop: Callable[[CommitInfo], bool]) -> list[CommitInfo]:
        return self._index._walk_key(key, stop, needed=False)


def _key(commit: CommitInfo) -> str:
    """The canary a commit was made for (`history.is_for`'s trailer), or ""."""
    values = commit.trailers.get("Gitbot-Canary")
    return values[-1] if values else ""


def _chain(new: list[CommitInfo], head: str, old: str) -> bool:
    """True when `new` (newest first) is a chain of single-parent commits from `head` down
    to `old`: the new log is `new` followed by the old one."""
    wanted = head
    for commit in new:
        if commit.sha != wanted or len(commit.parents) != 1:
            return False
        wanted = commit.parents[0]
    return wanted == old
