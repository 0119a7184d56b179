"""A commit of a few known files made without `git add` + `git commit` (issue 13).

Used by `GitWorkspace.commit` when the caller names the changed files (a canary's step). In a
checkout of thousands of files `git add` and `git commit` each refresh and rewrite the whole
index; here the blobs, the trees along the changed paths and the commit are written as loose
objects in this process (gitdb, no git process), then ONE `git update-index` brings the index
entries of those files in step, and only then the branch ref moves (a locked, atomic write):
a crash before that leaves nothing visible but unreferenced objects.

The commit is the one `git commit -q --cleanup=whitespace -m` would make: same tree, parent,
identity (the workspace's `GIT_AUTHOR_*`/`GIT_COMMITTER_*`), local time and zone, and message
cleaned the same way. `plan` returns None whenever that cannot be promised (attributes that
filter content, a new file or directory, a symlink or submodule in the way, dates or odd
identities in the environment): the caller then runs `git add` + `git commit` as before.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from gitdb import GitDB, IStream
from gitdb.db.pack import PackedDB
from gitdb.exc import BadObject
from gitdb.util import bin_to_hex, hex_to_bin, mman

from gitbot.adapters.git_log import _FIELD, _RECORD, CommitInfo, parse_log

_FILE_MODES = {b"100644", b"100755"}
_CRUD = " .,:;<>\"\\'"
_TRAILER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*: \S")
_DATE_VARS = ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")

Entry = tuple[bytes, bytes, bytes]  # a tree entry: mode, name, binary sha


@dataclass(frozen=True)
class Plan:
    """What the commit will record: new content (None: deleted) per changed path."""

    files: dict[str, tuple[bytes, bytes] | None]  # path -> (mode, content), None: deleted


def plan(root: Path, paths: Sequence[str], env: Mapping[str, str]) -> Plan | None:
    """The changed files, read from the working tree; None when the fast path does not apply."""
    if not plain_identity(env):
        return None
    if (root / ".git" / "info" / "attributes").exists():
        return None
    files: dict[str, tuple[bytes, bytes] | None] = {}
    for path in dict.fromkeys(paths):
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
            return None
        for depth in range(len(parts)):
            if (root.joinpath(*parts[:depth]) / ".gitattributes").exists():
                return None
        target = root.joinpath(*parts)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            return None
        if not target.exists():
            files[path] = None
            continue
        mode = b"100755" if os.access(target, os.X_OK) else b"100644"
        files[path] = (mode, target.read_bytes())
    return Plan(files) if files else None


def plain_identity(env: Mapping[str, str]) -> bool:
    """The environment's identity and dates are what this module can write exactly as git
    would (no `GIT_*_DATE`, plain names and addresses)."""
    if any(var in os.environ or var in env for var in _DATE_VARS):
        return False
    return all(_plain_ident(env.get(var, "")) for var in (
        "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"))


def _plain_ident(value: str) -> bool:
    return bool(value) and value == value.strip(_CRUD) and not any(c in value for c in "<>\n")


def clean_message(message: str) -> str:
    """`git stripspace` (`--cleanup=whitespace`): trailing spaces, runs of blank lines and
    leading/trailing blank lines removed, one final newline."""
    lines: list[str] = []
    for line in message.split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


class Parsed:
    """Trees and commit roots already parsed, kept across writers (objects never change: a
    sha names the same content forever), so that each pass does not read the `apps/`
    directory of 1,000 apps again. The bound counts entries, not trees: a commit made by git
    itself (a new file) gives the next commit a parent tree never seen, and the `apps/`
    directory parsed again per canary kept 20 MB per 100 canaries of a bootstrap pass (its
    peak RSS, 390 MB at 1,000)."""

    MOST_ENTRIES = 50_000  # about 10 MB of parsed entries; then start over

    def __init__(self) -> None:
        self.trees: dict[bytes, list[Entry]] = {}  # tree sha -> its entries
        self.roots: dict[str, bytes] = {}  # commit sha (hex) -> its tree
        self.kept = 0  # entries in `trees`

    def bound(self) -> None:
        """Start over once more than MOST_ENTRIES entries are kept."""
        if self.kept > self.MOST_ENTRIES:
            self.trees.clear()
            self.roots.clear()
            self.kept = 0

    def keep(self, tree: bytes, entries: list[Entry]) -> None:
        if tree not in self.trees:
            self.kept += len(entries)
        self.trees[tree] = entries


class ObjectWriter:
    """Writes the commit of a `Plan` on top of `parent` (see the module docstring).

    A writer serves a batch of commits (a pass) and is closed after it (`close`: the pack
    files it read are unmapped); what it parsed lives on in `parsed`, which the workspace
    hands to its next writer, so a daemon reads each directory's tree once, not per commit
    and not per pass.
    """

    def __init__(self, git_dir: Path, parsed: Parsed | None = None) -> None:
        self._db = GitDB(str(git_dir / "objects"))
        self.parsed = parsed if parsed is not None else Parsed()
        self.stamp = 0  # the commit's time (Unix seconds)

    @property
    def kept(self) -> int:
        """Tree entries kept parsed (bounded by `Parsed.MOST_ENTRIES`)."""
        return self.parsed.kept

    def commit(self, parent: str, work: Plan, message: str, env: Mapping[str, str]) -> str | None:
        """The new commit's sha; None when nothing changed; raises `LookupError` when a path
        is new to the tree or crosses a non-directory (the caller falls back)."""
        self.parsed.bound()
        root_tree = self._commit_tree(parent)
        tree = root_tree
        for path, content in work.files.items():
            tree = self._replace(tree, path.split("/"), content)
        if tree == root_tree:
            return None
        self.stamp = int(time.time())
        stamp = stamp_text(self.stamp)
        author = f"{env['GIT_AUTHOR_NAME']} <{env['GIT_AUTHOR_EMAIL']}> {stamp}"
        committer = f"{env['GIT_COMMITTER_NAME']} <{env['GIT_COMMITTER_EMAIL']}> {stamp}"
        body = (f"tree {bin_to_hex(tree).decode()}\nparent {parent}\nauthor {author}\n"
                f"committer {committer}\n\n{clean_message(message)}")
        sha: str = bin_to_hex(self._store(b"commit", body.encode())).decode()
        self.parsed.roots[sha] = tree
        return sha

    def close(self) -> None:
        """Unmap the pack files this writer read. gitdb maps them through a process-wide cache
        (`gitdb.util.mman`) that keeps them until told, and its pack readers sit in reference
        cycles: without this, every pack that `git gc` deletes stays open (descriptors, memory,
        disk space) for the life of the daemon."""
        for db in self._db.databases():
            if isinstance(db, PackedDB):
                for entity in db.entities():
                    entity.close()
        mman.collect()

    def _commit_tree(self, sha: str) -> bytes:
        if sha in self.parsed.roots:
            return self.parsed.roots[sha]
        raw = self._read(hex_to_bin(sha))
        first = raw.split(b"\n", 1)[0]
        if not first.startswith(b"tree "):
            raise LookupError(f"{sha} is not a commit")
        tree: bytes = hex_to_bin(first[5:].decode())
        self.parsed.roots[sha] = tree
        return tree

    def _replace(
        self, tree: bytes, parts: list[str], content: tuple[bytes, bytes] | None
    ) -> bytes:
        entries = list(self._entries(tree))
        name = parts[0].encode()
        found = next((i for i, e in enumerate(entries) if e[1] == name), None)
        if found is None:
            raise LookupError(f"{'/'.join(parts)} is new or was never there")
        mode, _name, sha = entries[found]
        if len(parts) > 1:
            if mode != b"40000":
                raise LookupError(f"{parts[0]} is not a directory")
            new = self._replace(sha, parts[1:], content)
            if new == sha:
                return tree
            if not self._entries(new):
                del entries[found]  # git drops a directory left empty
            else:
                entries[found] = (mode, name, new)
        elif content is None:
            del entries[found]
        else:
            if mode not in _FILE_MODES or mode != content[0]:
                raise LookupError(f"{parts[0]} is not a regular file of the same mode")
            blob = self._store(b"blob", content[1])
            if blob == sha:
                return tree
            entries[found] = (mode, name, blob)
        new_tree = self._store(b"tree", b"".join(m + b" " + n + b"\0" + s for m, n, s in entries))
        self.parsed.keep(new_tree, entries)
        return new_tree

    def _entries(self, tree: bytes) -> list[Entry]:
        """The tree's entries (read once, then kept; callers copy before changing them)."""
        if tree not in self.parsed.trees:
            self.parsed.keep(tree, _parse_tree(self._read(tree)))
        return self.parsed.trees[tree]

    def _read(self, binsha: bytes) -> bytes:
        """The object's content. gitdb lists the pack files once; when `git gc --auto` (which
        a `git commit` or `fetch` of the same pass may start) packed the loose objects and
        deleted them, the object is only in a pack it has not seen: look again, once."""
        try:
            return self._db.stream(binsha).read()  # type: ignore[no-any-return]
        except (BadObject, OSError):
            self._db.update_cache(force=True)
            return self._db.stream(binsha).read()  # type: ignore[no-any-return]

    def _store(self, kind: bytes, data: bytes) -> bytes:
        return self._db.store(IStream(kind, len(data), BytesIO(data))).binsha  # type: ignore[no-any-return]


def as_logged(sha: str, parent: str, stamp: int, message: str) -> CommitInfo | None:
    """What `GitWorkspace.log` (`git log --format=LOG_FORMAT`) reads of a commit just
    written, or None when git's trailer parsing could differ from the message's own split
    (no trailer block, or a `---` line, where git's trailer search stops)."""
    text = clean_message(message)
    paragraphs = text.rstrip("\n").split("\n\n")
    if len(paragraphs) < 2 or any(line.startswith("---") for line in text.splitlines()):
        return None
    block = paragraphs[-1].split("\n")
    if not all(_TRAILER.match(line) for line in block):
        return None
    record = _FIELD.join([sha, parent, str(stamp), paragraphs[0],
                          text.split("\n\n", 1)[1], "\n".join(block) + "\n"])
    return parse_log(record + _RECORD)[0]


def _parse_tree(raw: bytes) -> list[Entry]:
    entries: list[Entry] = []
    i = 0
    while i < len(raw):
        space = raw.index(b" ", i)
        nul = raw.index(b"\0", space)
        entries.append((raw[i:space], raw[space + 1:nul], raw[nul + 1:nul + 21]))
        i = nul + 21
    return entries


def stamp_text(now: int) -> str:
    offset = time.localtime(now).tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    return f"{now} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
