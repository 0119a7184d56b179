"""Reading and writing files on a side branch that is never checked out.

Used by `GitWorkspace.read_branch_file` / `write_branch_file` (gitbot.adapters.git) for gitbot's
own state. The working tree and the index of the main branch are never touched: a commit that
only changes files the parent already has is written in this process (`git_objects`: blobs,
trees and the commit as loose objects, the same commit `git commit-tree` makes, no git
process); any other (a new file, a first commit, an identity or date git_objects cannot promise)
by plumbing (hash-object, a temporary GIT_INDEX_FILE, write-tree, commit-tree).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal

from gitbot.adapters import git_objects
from gitbot.adapters.git_errors import GitError, GitInputError, GitRejectedError
from gitbot.adapters.git_runner import Result, Runner

log = logging.getLogger("gitbot.git")

_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|([\s~^:?*\[\\\x00-\x1f\x7f])|(@\{)|([/.]$)|(\.lock$)|(//)")


def check_branch(branch: str) -> None:
    """Reject a branch name git would refuse (or that could be read as an option)."""
    if not branch or _BAD_REF.search(branch):
        raise GitInputError(f"invalid git branch name {branch!r}")


def check_path(path: str) -> str:
    """A normalised relative POSIX path inside the repository, or GitInputError."""
    pure = PurePosixPath(path)
    bad_part = any(part in ("..", ".git") for part in pure.parts)
    if not path.strip() or pure.is_absolute() or bad_part or str(pure) == ".":
        raise GitInputError(f"invalid file path {path!r} for a branch file")
    return str(pure)


def fetch_branch(run: Runner, branch: str) -> str | None:
    """Fetch one branch into origin/<branch>; its sha, or None when the remote lacks it."""
    tracking = f"refs/remotes/origin/{branch}"
    result = run.run("fetch", "-q", "origin", f"+refs/heads/{branch}:{tracking}", check=False)
    if not result.ok:
        if "couldn't find remote ref" not in result.err.lower():
            raise run.failure(("fetch",), result)
        run.run("update-ref", "-d", tracking, check=False)
        return None
    return run.text("rev-parse", "--verify", f"{tracking}^{{commit}}")


#: Reads a file at one commit of the side branch (None when absent); given to write guards.
ReadAt = Callable[[str], str | None]
#: Called with a reader at the commit a write builds on; raises to refuse the write.
Guard = Callable[[ReadAt], None]


def read_file(run: Runner, branch: str, path: str) -> str | None:
    """The content of `path` on origin/<branch> after a fetch, or None."""
    return read_versioned(run, branch, path)[1]


def read_all(run: Runner, git_dir: Path, head: str) -> dict[str, str]:
    """Every file of commit `head` (path -> text): two git processes."""
    listing = run.run("ls-tree", "-r", "-z", "--full-tree", head, strip=False).out
    blobs: dict[str, list[str]] = {}  # sha -> paths
    for record in filter(None, listing.split("\0")):
        meta, _, path = record.partition("\t")
        fields = meta.split(" ")
        if fields[1:2] == ["blob"]:
            blobs.setdefault(fields[2], []).append(path)
    if not blobs:
        return {}
    tmp = git_dir / "gitbot-side-batch"
    tmp.write_bytes("".join(f"{sha}\n" for sha in blobs).encode())
    try:
        with tmp.open("rb") as stdin:
            out = run.run("cat-file", "--batch", stdin=stdin, strip=False).out
    finally:
        tmp.unlink(missing_ok=True)
    return _batch_contents(out.encode("utf-8", "surrogateescape"), blobs)


def _batch_contents(raw: bytes, paths: dict[str, list[str]]) -> dict[str, str]:
    """Parse `git cat-file --batch` output ("<sha> <type> <size>\\n<content>\\n" each)."""
    files: dict[str, str] = {}
    at = 0
    while at < len(raw):
        end = raw.index(b"\n", at)
        sha, _kind, size = raw[at:end].decode().split(" ")
        start = end + 1
        text = raw[start:start + int(size)].decode("utf-8", "replace")
        files.update(dict.fromkeys(paths[sha], text))
        at = start + int(size) + 1
    return files


def read_versioned(run: Runner, branch: str, path: str) -> tuple[str | None, str | None]:
    """(head sha of origin/<branch>, content of `path` there) after a fetch; None for absent."""
    path = check_path(path)
    head = fetch_branch(run, branch)
    if head is None:
        return None, None
    return head, file_at(run, head, path)


def file_at(run: Runner, commit: str, path: str) -> str | None:
    """The content of `path` at `commit`, or None."""
    spec = f"{commit}:{check_path(path)}"
    if not run.run("cat-file", "-e", spec, check=False).ok:
        return None
    return run.run("cat-file", "blob", spec, strip=False).out


#: How a remote words a push that lost the race for the ref's lock (not a refusal by policy).
_LOST_RACE = ("failed to update ref", "cannot lock ref", "incorrect old value")


def raise_unless_stale(run: Runner, result: Result) -> None:
    """Return when a push was rejected only because the remote moved on; raise otherwise."""
    text = result.out + "\n" + result.err
    if "[remote rejected]" in text and any(lost in text for lost in _LOST_RACE):
        return  # another push updated the ref between our fetch and the remote's lock
    if "[remote rejected]" in text:
        line = next((ln for ln in text.splitlines() if "rejected" in ln), text.strip())
        raise GitRejectedError(f"the remote refused the push: {run.clean_text(line)}")
    if "[rejected]" in text and ("fetch first" in text or "non-fast-forward" in text):
        return
    raise run.failure(("push",), result)


class BranchWriter:
    """Commits one file onto a side branch and pushes it, re-applying on a lost race."""

    def __init__(self, run: Runner, git_dir: Path, branch: str,
                 parsed: git_objects.Parsed | None = None) -> None:
        self._run = run
        self._git_dir = git_dir
        self._branch = branch
        self._parsed = parsed  # trees parsed by earlier writers of the workspace

    def write(
        self, path: str, content: str, message: str, retries: int, guard: Guard | None = None
    ) -> str:
        """Commit and push; return the branch head sha (unchanged content: the current head).

        `guard` sees the files of each commit the write would build on and raises to refuse it
        (the lease's fence: a state write is refused once another instance holds the lease).
        """
        return self.write_files({path: content}, message, retries, guard)

    def write_files(
        self, files: dict[str, str], message: str, retries: int, guard: Guard | None = None
    ) -> str:
        """`write` for several files: one commit, one push."""
        for _attempt in range(retries + 1):
            parent, sha = self.prepare(files, message, guard)
            if sha is None:
                return parent or ""
            if self._push(sha):
                self.log_written(files, sha)
                return sha
            log.info("push to side branch %s rejected; re-applying", self._branch)
        raise GitError(f"push to {self._branch} still rejected after {retries + 1} attempts")

    def prepare(
        self, files: dict[str, str], message: str, guard: Guard | None = None, fetch: bool = True,
        known: str | None = None,
    ) -> tuple[str | None, str | None]:
        """(parent, new commit) writing `files` onto the branch, not pushed; the commit is None
        when the branch already holds them. Without `fetch`, it builds on the last fetched head
        (`known`, when the caller read it; a push then fails as stale if the remote moved, and
        the caller retries with a fetch)."""
        files = {check_path(path): content for path, content in files.items()}
        parent = fetch_branch(self._run, self._branch) if fetch else known or self._known_head()
        if guard is not None:
            guard(self._reader(parent))
        if parent is not None:
            made = self._commit_in_process(parent, files, message)
            if made is not False:
                return parent, made  # None: the branch holds them already
        blobs = dict(zip(files, self._hash_all(list(files.values())), strict=True))
        if parent is not None and self._blobs_at(parent, list(blobs)) == blobs:
            return parent, None
        return parent, self._commit_files(parent, blobs, message)

    def _commit_in_process(self, parent: str, files: dict[str, str], message: str
                           ) -> str | Literal[False] | None:
        """The commit of `files` on `parent` written without a git process, None when the
        parent holds them already, False when only git can promise the same commit."""
        env = self._run.env
        as_given = message if message.endswith("\n") else message + "\n"  # commit-tree -m
        if not git_objects.plain_identity(env) or git_objects.clean_message(message) != as_given:
            return False
        writer = git_objects.ObjectWriter(self._git_dir, self._parsed)
        try:
            work = git_objects.Plan({path: (b"100644", content.encode("utf-8"))
                                     for path, content in files.items()})
            return writer.commit(parent, work, message, env)
        except LookupError:  # a new file, or a path crossing a non-directory
            return False
        finally:
            writer.close()

    def pushed(self, sha: str) -> None:
        """`sha` is now the remote branch's head (pushed by the caller)."""
        self._run.run("update-ref", f"refs/remotes/origin/{self._branch}", sha)

    def log_written(self, files: dict[str, str], sha: str) -> None:
        shown = ", ".join(sorted(files)[:3])
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        log.info("wrote %s%s on %s as %s", shown, more, self._branch, sha[:12])

    def _known_head(self) -> str | None:
        ref = f"refs/remotes/origin/{self._branch}^{{commit}}"
        result = self._run.run("rev-parse", "--verify", "--quiet", ref, check=False)
        return result.out.strip() if result.ok else None

    def swap(self, path: str, content: str, message: str, expected: str | None) -> str | None:
        """Compare-and-swap: commit `content` onto `expected` (None: a new branch) and push
        without force; the new head, or None when the remote branch is no longer `expected`."""
        path = check_path(path)
        sha = self._commit(expected, path, self._hash(content), message)
        return sha if self._push(sha) else None

    def _reader(self, commit: str | None) -> ReadAt:
        def read(path: str) -> str | None:
            return file_at(self._run, commit, path) if commit else None

        return read

    def _hash(self, content: str) -> str:
        return self._hash_all([content])[0]

    def _hash_all(self, contents: list[str]) -> list[str]:
        """Write every content as a blob: one `git hash-object` process for all of them."""
        tmps = [self._git_dir / f"gitbot-side-blob-{i}" for i in range(len(contents))]
        try:
            for tmp, content in zip(tmps, contents, strict=True):
                tmp.write_bytes(content.encode("utf-8"))
            out = self._run.text("hash-object", "-w", "--no-filters", *map(str, tmps))
            return out.split()
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)

    def _blobs_at(self, commit: str, paths: list[str]) -> dict[str, str | None]:
        """The blob of each path at `commit` (None when absent): one `git ls-tree` process."""
        out = self._run.run("ls-tree", "-z", "--full-tree", commit, "--", *paths,
                            strip=False).out
        found: dict[str, str | None] = dict.fromkeys(paths)
        for record in filter(None, out.split("\0")):
            meta, _, path = record.partition("\t")
            if path in found:
                found[path] = meta.split(" ")[2]
        return found

    def _commit(self, parent: str | None, path: str, blob: str, message: str) -> str:
        return self._commit_files(parent, {path: blob}, message)

    def _commit_files(self, parent: str | None, blobs: dict[str, str], message: str) -> str:
        index = self._git_dir / "gitbot-side-index"
        index.unlink(missing_ok=True)
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self._run.run("read-tree", *([parent] if parent else ["--empty"]), env=env)
            infos = [arg for path, blob in sorted(blobs.items())
                     for arg in ("--cacheinfo", f"100644,{blob},{path}")]
            self._run.run("update-index", "--add", *infos, env=env)
            tree = self._run.run("write-tree", env=env).out.strip()
        finally:
            index.unlink(missing_ok=True)
        parents = ["-p", parent] if parent else []
        return self._run.text("commit-tree", tree, *parents, "-m", message)

    def _push(self, sha: str) -> bool:
        ref = f"refs/heads/{self._branch}"
        result = self._run.run("push", "--porcelain", "origin", f"{sha}:{ref}", check=False)
        if result.ok:
            self.pushed(sha)
            return True
        raise_unless_stale(self._run, result)
        return False
