"""Which repository files reach Flux: source-controller's default exclusions, `.sourceignore`
files and the GitRepository's `spec.ignore`, with gitignore syntax.

As fluxcd/pkg `sourceignore` does: the default patterns (VCS, images/archives, CI files,
`.goreleaser.yml`/`.sops.yaml`/`.flux.yaml`) have the lowest priority, then every `.sourceignore`
in the tree (scoped to its directory, parents before children), then `spec.ignore`; the last
matching pattern decides. Called by `discovery` (to scan) and `flux` (to build the artifact copy);
`listed` and `walk_key` let `mirror` and `discovery` update one path as a walk would find it.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from gitbot.adapters.safefs import FileRefusedError, make_dirs, read_text, walk

IGNORE_FILE = ".sourceignore"
EXCLUDE_VCS = ".git/,.gitignore,.gitmodules,.gitattributes"
EXCLUDE_EXT = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip"
EXCLUDE_CI = (".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,"
              "cloudbuild.yaml,codeship-services.yml,codeship-steps.yml")
EXCLUDE_EXTRA = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml"
DEFAULT_PATTERNS = ",".join([EXCLUDE_VCS, EXCLUDE_EXT, EXCLUDE_CI, EXCLUDE_EXTRA]).split(",")


@dataclass(frozen=True)
class _Rule:
    domain: tuple[str, ...]  # the directory whose .sourceignore declared it (() = the root)
    pattern: Any  # a compiled gitignore pattern of pathspec


def _rules(lines: Iterable[str], domain: tuple[str, ...]) -> list[_Rule]:
    kept = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    spec = pathspec.GitIgnoreSpec.from_lines(kept)
    return [_Rule(domain, p) for p in spec.patterns if p.include is not None]


class SourceIgnore:
    """Answers "does this repository path reach the Flux artifact?"."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._rules = rules

    @classmethod
    def load(cls, root: Path, extra: str | None = None) -> SourceIgnore:
        rules = _rules(DEFAULT_PATTERNS, ())
        rules += _tree_rules(root, ())
        if extra:
            rules += _rules(extra.splitlines(), ())
        return cls(rules)

    def with_extra(self, extra: str | None) -> SourceIgnore:
        """These rules and then `extra` (a GitRepository's `spec.ignore`): `load(root, extra)`
        without walking the tree again."""
        return SourceIgnore(self._rules + _rules(extra.splitlines(), ())) if extra else self

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        parts = tuple(rel.split("/"))
        for rule in reversed(self._rules):
            size = len(rule.domain)
            if len(parts) <= size or parts[:size] != rule.domain:
                continue
            sub = "/".join(parts[size:]) + ("/" if is_dir else "")
            if rule.pattern.match_file(sub) is not None:
                return bool(rule.pattern.include)
        return False

    def files(self, root: Path) -> Iterator[str]:
        """Repository-relative paths of the files that reach the artifact, sorted per directory."""
        for dirpath, dirnames, filenames in walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            base = Path(dirpath).relative_to(root).as_posix()
            for name in sorted(filenames):
                rel = name if base == "." else f"{base}/{name}"
                if not self.ignored(rel):
                    yield rel

    def copy_artifact(self, root: Path, dest: Path) -> list[str]:
        """Copy what Flux would package into `dest`: regular files only, as source-controller's
        archive leaves symlinks and other special files out. The files copied, in walk order."""
        return [rel for rel in self.files(root) if copy_file(root, dest, rel)]


def copy_file(root: Path, dest: Path, rel: str) -> bool:
    """Copy file `rel` (one `SourceIgnore.files` lists) into `dest` when it is a regular file."""
    source = root / rel
    if source.is_symlink() or not source.is_file():
        return False
    target = make_dirs(dest, posixpath.dirname(rel)) / posixpath.basename(rel)
    shutil.copyfile(source, target)
    return True


def listed(root: Path, rel: str) -> bool:
    """True when a walk of `root` (`SourceIgnore.files`, before the ignore rules) lists `rel`:
    it exists and is no directory (nor a symlink to one), and it lies below real directories
    only (a symlinked directory is never entered), none of them `.git`."""
    parts = rel.split("/")
    if ".git" in parts[:-1]:
        return False
    path = root
    for name in parts[:-1]:
        path = path / name
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return False
        except OSError:
            return False
    return os.path.lexists(root / rel) and not os.path.isdir(root / rel)


def walk_key(rel: str) -> tuple[tuple[int, str], ...]:
    """Sorts paths in the order a walk sorted per directory yields them: a directory's files
    by name, then its sub-directories by name."""
    parts = rel.split("/")
    return (*((1, name) for name in parts[:-1]), (0, parts[-1]))


def _tree_rules(root: Path, domain: tuple[str, ...]) -> list[_Rule]:
    """The rules of every `.sourceignore` below `root`, parents before children.

    Walked without recursion (a repository may nest directories thousands deep) and read
    through `safefs`: a `.sourceignore` that is a symlink out of the repository, a FIFO or
    over the size limit is skipped, as source-controller never follows it out either.
    """
    rules: list[_Rule] = []
    for dirpath, dirnames, filenames in walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        base = Path(dirpath).relative_to(root)
        if IGNORE_FILE not in filenames:
            continue
        rel = (base / IGNORE_FILE).as_posix()
        try:
            text = read_text(root, rel)
        except FileRefusedError:
            continue
        rules += _rules(text.splitlines(), (*domain, *base.parts))
    return rules
