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


class SideBranches(Protocol):
    """The part of `GitWorkspace` the snapshot needs."""

    def read_branch_files(self, branch: str) -> dict[str, str]: ...

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


class BranchSnapshot:
    """Reads side branches as of the last `refresh()`; writes through to the remote."""

    def __init__(self, workspace: SideBranches) -> None:
        self._ws = workspace
        self._branches: dict[str, dict[str, str]] = {}
        self._active = False
        self.full_reads = 0  # whole-branch reads (for tests and the benchmark)

    def refresh(self) -> None:
        """A pass begins: forget what was read; the next read fetches the whole branch."""
        self._branches.clear()
        self._active = True

    def release(self) -> None:
        """The pass ended: reads go to the remote again."""
        self._branches.clear()
        self._active = False

    def read_branch_file(self, branch: str, path: str) -> str | None:
        if not self._active:
            return self._ws.read_branch_file(branch, path)
        if branch not in self._branches:
            self.full_reads += 1
            self._branches[branch] = self._ws.read_branch_files(branch)
        return self._branches[branch].get(check_path(path))

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str:
        sha = self._ws.write_branch_file(branch, path, content, subject)
        self._wrote(branch, {path: content})
        return sha

    def write_branch_file_guarded(
        self, branch: str, path: str, content: str, subject: str, guard: Guard
    ) -> str:
        sha = self._ws.write_branch_file_guarded(branch, path, content, subject, guard)
        self._wrote(branch, {path: content})
        return sha

    def write_branch_files(
        self, branch: str, files: dict[str, str], subject: str, guard: Guard | None = None
    ) -> str:
        sha = self._ws.write_branch_files(branch, files, subject, guard)
        self._wrote(branch, files)
        return sha

    def push_with_branch(
        self, branch: str, files: dict[str, str], subject: str, guard: Guard | None = None
    ) -> str:
        """The working branch and `files` on `branch` in one atomic push (see GitWorkspace)."""
        sha = self._ws.push_with_branch(branch, files, subject, guard)
        self._wrote(branch, files)
        return sha

    def _wrote(self, branch: str, files: dict[str, str]) -> None:
        if branch in self._branches:
            self._branches[branch].update({check_path(p): c for p, c in files.items()})
