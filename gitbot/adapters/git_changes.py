"""Who changed which files on the branch: commits with their author, and a file at a commit.

Used by `gitbot.adapters.git.GitWorkspace.changes` / `file_at`, which the drift check
(`gitbot.drift`) calls to name the person whose commit changed a value gitbot manages, and to
read what gitbot's own last commit declared. Read-only, local commands only (no fetch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitbot.adapters.git_branches import check_path
from gitbot.adapters.git_errors import GitInputError
from gitbot.adapters.git_runner import Runner

_FIELD = "\x1f"
_RECORD = "\x1e"
CHANGES_FORMAT = _RECORD + _FIELD.join(["%H", "%an", "%s"])


@dataclass(frozen=True)
class Change:
    """One commit that touched some of the asked-for files."""

    sha: str
    author: str
    subject: str
    files: tuple[str, ...]


def changes(
    run: Runner, head: str, since_sha: str, paths: Sequence[str], max_count: int
) -> list[Change]:
    """Commits in `since_sha..head` (all of `head` when `since_sha` is "") that touch `paths`
    (any file when `paths` is empty), newest first, each with the touched files."""
    clean = [check_path(p) for p in paths]
    target = f"{since_sha}..{head}" if since_sha else head
    out = run.run(
        "log", f"--max-count={max(0, max_count)}", f"--format={CHANGES_FORMAT}", "--name-only",
        "--no-renames", target, "--", *clean,
    ).out
    return parse_changes(out)


def parse_changes(output: str) -> list[Change]:
    """Parse `git log --format=CHANGES_FORMAT --name-only` output."""
    found = []
    for record in output.split(_RECORD):
        lines = record.strip("\n").splitlines()
        if not lines or _FIELD not in lines[0]:
            continue
        sha, author, subject = lines[0].split(_FIELD, 2)
        files = tuple(line.strip() for line in lines[1:] if line.strip())
        found.append(Change(sha, author, subject, files))
    return found


def file_at(run: Runner, sha: str, path: str) -> str | None:
    """The content of `path` in commit `sha`, or None when the file is not in it."""
    if not sha or sha.startswith("-"):
        raise GitInputError(f"invalid commit {sha!r}")
    spec = f"{sha}:{check_path(path)}"
    if not run.run("cat-file", "-e", spec, check=False).ok:
        return None
    return run.run("cat-file", "blob", spec, strip=False).out
