"""The state branch read once per pass: `BranchFiles` for `GitStateStore` over a workspace.

`GitStateStore` reads one file per canary (its state) and one more (its approval) each tick;
reading them from the remote one by one costs a fetch and three git processes each.
`BranchSnapshot` fetches a side branch once, after `refresh()` (the reconciler calls it at the
start of each pass, and `release()` at its end), reads all its files in one `git cat-file
--batch`, serves reads from that picture, and keeps it current with its own writes (which
still go to the remote, through `GitWorkspace.write_branch_file(s)`, with push-race retries and,
under `gitbot.lease.FencedFiles`, the lease's fence). Another writer's change (`gitbot approve`
from a laptop) is seen at the next pass. Outside a pass every read goes to the remote, as
without the snapshot (another process may write). Wired by `gitbot.wiring`.
"""

from __future__ import annotations

from typing import Protocol

from gitbot.adapters.git_branches import Guard, check_path


class GuardedFiles(Protocol):
    """Branch-file reads and writes of `GitWorkspace` (also what `gitbot.lease.FencedFiles`
    wraps)."""

    def read_branch_file(self, branch: str, path: str) -> str | None: ...

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str: ...

    def write_branch_file_guarded(
        self, branch: str, path: str, content: str, subject: str, guard: Guard
    ) -> str: ...

    def write_branch_files(
        self, branch: str, files: dict[str, str], subject: str, guard: Guard | None = None
    ) -> str: ...

    def push_with_branch(
        self, branch: str, files: dict[str, str], subject: str, guard: Guard | None = None
    ) -> str: ...


class SideBranches(GuardedFiles, Protocol):
    """The part of `GitWorkspace` the snapshot needs."""

    def read_branch_files(self, branch: str, fetch: bool = True) -> tuple[str | None,
                                                                           dict[str, str]]: ...

    def ref(self, name: str) -> str | None: ...


class BranchSnapshot:
    """Reads side branches as of the last `refresh()`; writes through to the remote."""

    def __init__(self, workspace: SideBranches) -> None:
        self._ws = workspace
        self._pictures: dict[str, tuple[str | None, dict[str, str]]] = {}  # branch: head, files
        self._fresh: set[str] = set()  # pictures confirmed in this pass
        self._fetched = False
        self._active = False
        self.full_reads = 0  # whole-branch reads (for tests and the benchmark)

    def refresh(self, fetched: bool = False) -> None:
        """A pass begins: each branch is checked again at its first read (`fetched`: the
        caller just fetched every branch, so the remote-tracking ref is current). A picture
        whose head did not move is kept, else the whole branch is read again."""
        self._fresh.clear()
        self._fetched = fetched
        self._active = True

    def release(self) -> None:
        """The pass ended: reads go to the remote again."""
        self._fresh.clear()
        self._active = False

    def read_branch_file(self, branch: str, path: str) -> str | None:
        if not self._active:
            return self._ws.read_branch_file(branch, path)
        if branch not in self._fresh:
            self._confirm(branch)
        return self._pictures[branch][1].get(check_path(path))

    def _confirm(self, branch: str) -> None:
        known = self._pictures.get(branch)
        if self._fetched and known is not None and known[0] is not None \
                and self._ws.ref(f"refs/remotes/origin/{branch}") == known[0]:
            self._fresh.add(branch)
            return
        self.full_reads += 1
        self._pictures[branch] = self._ws.read_branch_files(branch, fetch=not self._fetched)
        self._fresh.add(branch)

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str:
        sha = self._ws.write_branch_file(branch, path, content, subject)
        self._wrote(branch, {path: content}, sha)
        return sha

    def write_branch_file_guarded(
        self, branch: str, path: str, content: str, subject: str, guard: Guard
    ) -> str:
        sha = self._ws.write_branch_file_guarded(branch, path, content, subject, guard)
        self._wrote(branch, {path: content}, sha)
        return sha

    def write_branch_files(
        self, branch: str, files: dict[str, str], subject: str, guard: Guard | None = None
    ) -> str:
        sha = self._ws.write_branch_files(branch, files, subject, guard)
        self._wrote(branch, files, sha)
        return sha

    def push_with_branch(
        self, branch: str, files: dict[str, str], subject: str, guard: Guard | None = None
    ) -> str:
        """The working branch and `files` on `branch` in one atomic push (see GitWorkspace)."""
        sha = self._ws.push_with_branch(branch, files, subject, guard)
        self._wrote(branch, files, self._ws.ref(f"refs/remotes/origin/{branch}"))
        return sha

    def _wrote(self, branch: str, files: dict[str, str], head: str | None) -> None:
        """Our own write: the picture follows it (its head is the one written)."""
        known = self._pictures.get(branch)
        if known is None:
            return
        self._pictures[branch] = (head, {**known[1],
                                         **{check_path(p): c for p, c in files.items()}})
