"""A step's commit without a git process, and the index brought in step once per pass (issue 13).

Owned by `GitWorkspace` (one `FastCommits` per workspace), which calls `commit` for a commit of
named files. The objects are written by `git_objects` (one writer for a whole batch, closed
after it to unmap the packs it read; the trees it parsed are kept for the next one, so a
daemon reads each directory's tree once); the branch ref
moves here like `git commit` moves it
(`refs/heads/<branch>.lock` created exclusively, the new sha written, renamed over the ref, one
reflog line for the branch and one for HEAD), without a process.

The index: a commit is built from trees, never from the index, so the index entries of the
committed files only need to be in step by the time something reads the index. Outside a
batch, `commit` runs ONE `git update-index` for the files at once (before the ref moves, as
before). Inside `deferred()` (a reconciler pass in push mode) the paths are only noted, and
the debt outlives the block: ONE `git update-index --stdin` for all of them runs right before
the next git command that reads or writes the index (`before`, which the workspace's runner
calls for every command: anything not known to ignore the index settles the debt first, so
`git add`/`commit`/`revert`/`rebase`/`reset`/`status` always see an index in step), or when
the workspace closes. A daemon whose passes only step (fast commits, fetch, push) thus never
pays for the index; a full sync (`checkout -f` + `reset --hard`, which rewrite the index from
the tree) forgets the debt instead of settling it. Between such passes a person running
`git status` in gitbot's working copy sees the files of its latest commits as changed in both
the index and the tree ("MM"): the commits hold them, nothing is lost.

A crash in between (the process killed after a commit, before the update) leaves the ref at
the new commit and the index at the old one, the same picture; the next start's `sync`
(checkout -f, reset --hard: a fresh process never trusts the working copy) rewrites the index.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from gitbot.adapters import git_objects
from gitbot.adapters.git_errors import GitError
from gitbot.adapters.git_log import CommitInfo
from gitbot.adapters.git_runner import Runner

log = logging.getLogger("gitbot.git")

#: git commands that neither read nor write the index of the working tree
INDEX_FREE = frozenset({
    "push", "fetch", "log", "rev-parse", "rev-list", "cat-file", "hash-object", "ls-tree",
    "update-ref", "commit-tree", "mktree", "merge-base", "config", "remote", "for-each-ref",
    "show-ref", "symbolic-ref", "version",
})


class FastCommits:
    """Commits of named files for one workspace (see the module docstring)."""

    _MOST_MADE = 10_000

    def __init__(self, git_dir: Path, branch: str, env: Mapping[str, str],
                 parsed: git_objects.Parsed | None = None) -> None:
        self._git_dir = git_dir
        self._parsed = parsed if parsed is not None else git_objects.Parsed()
        self._branch = branch
        self._env = env
        self._writer: git_objects.ObjectWriter | None = None
        self.made: dict[str, CommitInfo] = {}  # commits written here, as `git log` reads them
        self._debt: set[str] = set()  # paths whose index entries lag the working tree
        self._deferring = 0

    def close(self) -> None:
        """Drop the object writer, unmapping the pack files it read (`ObjectWriter.close`:
        a pack `git gc` deleted must not stay open): after each commit outside a batch, at
        the end of a batch, and when the workspace closes."""
        if self._writer is not None:
            self._writer.close()
        self._writer = None

    def commit(self, run: Runner, parent: str, paths: Sequence[str], message: str
               ) -> str | bool | None:
        """Commit `paths` (read from the working tree) on `parent`: the new sha, None when
        nothing changed, False when the fast path does not apply (the caller runs git)."""
        work = git_objects.plan(self._git_dir.parent, paths, self._env)
        if work is None:
            return False
        if self._writer is None:
            self._writer = git_objects.ObjectWriter(self._git_dir, self._parsed)
        writer = self._writer
        try:
            sha = writer.commit(parent, work, message, self._env)
        except LookupError as err:
            log.debug("commit by git add + git commit: %s", err)
            return False
        finally:
            if not self._deferring:
                self.close()
        if sha is None:
            return None
        if self._deferring:
            self._debt.update(work.files)
        else:
            run.run("update-index", "--add", "--remove", "--", *work.files)
        ident = f"{self._env['GIT_COMMITTER_NAME']} <{self._env['GIT_COMMITTER_EMAIL']}>"
        move_branch(self._git_dir, self._branch, parent, sha,
                    f"{ident} {git_objects.stamp_text(writer.stamp)}",
                    f"commit: {message.splitlines()[0]}")
        info = git_objects.as_logged(sha, parent, writer.stamp, message)
        if len(self.made) > self._MOST_MADE:
            self.made.clear()
        if info is not None:
            self.made[sha] = info
        return sha

    # -- the index --------------------------------------------------------------------------
    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within the block, commits leave the index to one update before the next command
        that needs it (after the block too), or to `settle` when the workspace closes."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring:
                self.close()

    @property
    def owing(self) -> bool:
        """True while committed paths wait for their index update."""
        return bool(self._debt)

    def forget(self) -> None:
        """The index is about to be rewritten from a tree (`checkout -f`, `reset --hard`):
        nothing is owed any more."""
        self._debt.clear()

    def before(self, run: Runner, args: Sequence[str], env: Mapping[str, str] | None) -> None:
        """Called before every git command of the workspace: settles the index first unless
        the command leaves it alone (or works on another index file)."""
        if not self._debt or (env and "GIT_INDEX_FILE" in env):
            return
        if args and args[0] in INDEX_FREE:
            return
        self.settle(run)

    def settle(self, run: Runner) -> None:
        """Bring the index entries of every committed path in step (one process)."""
        if not self._debt:
            return
        paths, self._debt = sorted(self._debt), set()
        try:
            with tempfile.TemporaryFile() as stdin:  # a file: git reads it as its stdin
                stdin.write(b"".join(p.encode() + b"\0" for p in paths))
                stdin.seek(0)
                run.run("update-index", "--add", "--remove", "-z", "--stdin", stdin=stdin)
        except BaseException:
            self._debt.update(paths)
            raise


def move_branch(git_dir: Path, branch: str, old: str, new: str, who: str, message: str) -> None:
    """Point `refs/heads/<branch>` (which must be at `old`) to `new`, with reflog lines for
    the branch and for HEAD (which names the branch), as `git commit` does."""
    ref = git_dir / "refs" / "heads" / branch
    ref.parent.mkdir(parents=True, exist_ok=True)
    lock = ref.with_name(ref.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError as err:
        raise GitError(f"cannot move {branch}: {lock} exists (another git process?)") from err
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"{new}\n")
        current = _loose_or_packed(git_dir, branch)
        if current is not None and current != old:
            raise GitError(f"cannot move {branch}: it is at {current[:12]}, not {old[:12]}")
        os.replace(lock, ref)
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    line = f"{old} {new} {who}\t{message}\n"
    head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    for name in (f"refs/heads/{branch}", "HEAD") if head == f"ref: refs/heads/{branch}" else (
            f"refs/heads/{branch}",):
        path = git_dir / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as reflog:
            reflog.write(line)


def _loose_or_packed(git_dir: Path, branch: str) -> str | None:
    """The sha the branch points to now (its loose ref, else packed-refs), None if absent."""
    name = f"refs/heads/{branch}"
    try:
        return (git_dir / name).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    try:
        packed = (git_dir / "packed-refs").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for line in packed.splitlines():
        sha, _, ref = line.partition(" ")
        if ref == name:
            return sha
    return None
