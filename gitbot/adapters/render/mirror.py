"""The artifact copy of a working tree, kept between renders and updated by the changed paths.

`render_repository` builds in a copy of what source-controller would package (`SourceIgnore`),
checked by `confine`. A `RenderCache` keeps that copy in a `Mirror` (a private temporary
directory, removed by `close` or when the mirror is collected). Without `Tracking`, every render
reads the whole tree again (discovery scan, copy, confine check, digests), as a fresh copy
would. With it, the cache's owner (`RepoIndex`) reports every change of the working tree
(`changed`: files written; `moved`: a new commit and the paths that differ; `unknown`), and
the mirror reads HEAD at each render (`Tracking.head`), asking git for the difference when HEAD
moved unreported. A render then re-reads for discovery, copies, checks (`confine` judges each
file alone) and digests only those paths; a path gone from the tree goes from the copy, with
its emptied directories (a fresh copy has none). The whole tree is read again when unsure: the
first render, another root, a `.sourceignore` or the GitRepository's `spec.ignore` changed, a
path that is a directory or a symlink now (or lies below one), a path that is not a clean
relative one, an unknown difference, an error while updating. One render at a time uses the
copy (`session` holds a lock); reports may come from any thread.
Owned by `cache.RenderCache`; used by `flux.render_repository`.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gitbot.adapters.render import confine
from gitbot.adapters.render.discovery import FluxFiles, Scan
from gitbot.adapters.render.inputs import FileDigests
from gitbot.adapters.render.sourceignore import (
    IGNORE_FILE,
    SourceIgnore,
    copy_file,
    listed,
    walk_key,
)
from gitbot.errors import InvalidInputError

T = TypeVar("T")


@dataclass(frozen=True)
class Tracking:
    """How a cache's owner follows its working tree (see the module docstring)."""

    root: Path
    head: Callable[[], str]  # the commit HEAD is at
    changed_paths: Callable[[str, str], list[str] | None]  # differing paths (None: unknown)


class Mirror:
    """One working tree's artifact copy, kept between renders (see the module docstring)."""

    def __init__(self, tracking: Tracking | None, files: FluxFiles,
                 references: dict[str, tuple[list[str], bool]]) -> None:
        self._tracking = tracking
        self._files = files
        self._references = references
        self._session = threading.Lock()
        self._reports = threading.Lock()
        self._pending: set[str] | None = None  # reported since the last render (None: unknown)
        self._head = ""  # the commit the copy shows (with the pending paths)
        self._now: set[str] | None = None  # the paths this render reads again (None: all)
        self._tmp: Path | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None
        self._root: Path | None = None  # the tree of the discovery scan (None: read it all)
        self._base = SourceIgnore([])  # the default and `.sourceignore` rules
        self._copy_pending: set[str] | None = None  # ... not in the copy yet (None: all)
        self._extra: str | None = None  # the GitRepository's spec.ignore of the copy
        self._ignore = SourceIgnore([])  # ... and the rules with it
        self._copied: set[str] = set()
        self._refused: dict[str, str] = {}
        self.digests = FileDigests(references)
        self.copied = 0  # files copied into the artifact (tests and the benchmark)
        self.full = 0  # whole-tree copies made

    # -- reports (any thread) ---------------------------------------------------------------
    def changed(self, rels: Iterable[str]) -> None:
        with self._reports:
            if self._pending is not None:
                self._pending.update(rels)

    def moved(self, old: str, new: str, rels: Iterable[str]) -> None:
        with self._reports:
            if self._pending is not None:
                self._pending.update(rels)
            if self._head == old:
                self._head = new

    def unknown(self) -> None:
        with self._reports:
            self._pending = None

    def close(self) -> None:
        with self._session:
            if self._cleanup is not None:
                self._cleanup()
            self._tmp, self._cleanup, self._root, self._copy_pending = None, None, None, None

    # -- one render -------------------------------------------------------------------------
    @contextmanager
    def session(self, root: Path) -> Iterator[Mirror]:
        """The mirror for one render of `root`; an unexpected error makes the next one read
        the whole tree (a render's expected refusals leave the copy as it is)."""
        with self._session:
            try:
                self._begin(root)
                yield self
            except InvalidInputError:
                raise
            except BaseException:
                self._root = None
                raise

    def _begin(self, root: Path) -> None:
        tracking = self._tracking if self._tracking is not None and \
            self._tracking.root == root else None
        now = _ask(tracking.head) if tracking is not None else None
        with self._reports:
            pending, self._pending = self._pending, set()
            head, self._head = self._head, now or ""
        if tracking is None or self._root != root or not head or not now or pending is None:
            self._now = None
            return
        if now != head:
            diff = _ask(lambda: tracking.changed_paths(head, now))
            pending = None if diff is None else pending | set(diff)
        self._now = pending if pending is not None and _clean(root, pending) else None

    def scan(self, root: Path) -> Scan:
        """The Flux objects of the tree (discovery), reading only the changed files."""
        reread, self._root = self._now, None  # half an update: the whole tree next time
        if reread is None:
            self._base = SourceIgnore.load(root)
            self._files.full(root, self._base)
            self._copy_pending = None
        else:
            self._files.update(root, self._base, reread)
            if self._copy_pending is not None:
                self._copy_pending |= reread
        self._root = root
        return self._files.scan()

    def artifact(self, root: Path, extra: str | None) -> tuple[Path, list[str]]:
        """The copy, up to date with `spec.ignore` `extra`, and confine's refusals in it."""
        artifact = self._directory() / "artifact"
        pending, self._root = self._copy_pending, None  # as in `scan`
        if pending is None or extra != self._extra or not artifact.is_dir():
            self._copy_all(root, artifact, extra)
        else:
            try:
                self._update(root, artifact, pending)
            except OSError:  # a file became a directory under our feet, a full disk, ...
                self._copy_all(root, artifact, extra)
        self._copy_pending, self._root = set(), root
        return artifact, [self._refused[rel] for rel in sorted(self._refused, key=walk_key)]

    def _directory(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="gitbot-render-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, True)
        return self._tmp

    def _copy_all(self, root: Path, artifact: Path, extra: str | None) -> None:
        self._copy_pending = None
        if artifact.exists():
            shutil.rmtree(artifact)
        artifact.mkdir()
        self._ignore, self._extra = self._base.with_extra(extra), extra
        copied = self._ignore.copy_artifact(root, artifact)
        self._copied = set(copied)
        self._refused = confine.check_files(artifact, copied)
        self.digests = FileDigests(self._references)
        self.copied += len(copied)
        self.full += 1

    def _update(self, root: Path, artifact: Path, rels: set[str]) -> None:
        before = rels & self._copied
        for rel in sorted(before):  # what changed or went leaves the copy first
            (artifact / rel).unlink()
            self._copied.discard(rel)
            self._refused.pop(rel, None)
            _prune(artifact, posixpath.dirname(rel))
        wanted = sorted((r for r in rels if listed(root, r) and not self._ignore.ignored(r)),
                        key=walk_key)
        after = [rel for rel in wanted if copy_file(root, artifact, rel)]
        self._copied.update(after)
        self._refused.update(confine.check_files(artifact, after))
        self.digests.forget(before & set(after), before ^ set(after))
        self.copied += len(after)


def _ask(question: Callable[[], T]) -> T | None:
    """The owner's answer (HEAD, a difference); None when it fails: the whole tree is read."""
    try:
        return question()
    except Exception:  # a git error: nothing is lost but the time of a whole copy
        return None


def _clean(root: Path, rels: set[str]) -> bool:
    """True when every path can be updated alone: a clean relative path, no `.sourceignore`,
    neither a directory nor a symlink nor below one."""
    for rel in rels:
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) \
                or parts[-1] == IGNORE_FILE:
            return False
        path = root
        for name in parts:
            path = path / name
            if path.is_symlink():
                return False
        if path.is_dir():
            return False
    return True


def _prune(artifact: Path, directory: str) -> None:
    """Remove `directory` of the copy and its parents while they are empty."""
    while directory not in ("", "."):
        try:
            os.rmdir(artifact / directory)
        except OSError:  # not empty (or gone)
            return
        directory = posixpath.dirname(directory)
