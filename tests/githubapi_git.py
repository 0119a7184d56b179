"""The real Git side of the GitHub API test server (tests/githubapi.py): a bare repository.

Branch heads, mergeability (`git merge-tree --write-tree`) and merges with real `git merge`,
`git merge --squash` and `git rebase` in a scratch clone, pushed to the bare repository as
GitHub would land them on the base branch.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GITHUB_IDENTITY = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
    "GIT_TERMINAL_PROMPT": "0",
}


class MergeConflict(Exception):
    """The head does not merge cleanly into the base."""


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GITHUB_IDENTITY},
        capture_output=True, text=True, check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done


class BareRepo:
    """A bare repository plus a scratch clone for merges."""

    def __init__(self, bare: Path, scratch: Path) -> None:
        self.bare = bare
        self.scratch = scratch

    def head(self, branch: str) -> str | None:
        done = _git(self.bare, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)
        return done.stdout.strip() or None

    def exists(self, sha: str) -> bool:
        return _git(self.bare, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def mergeable(self, base: str, head: str) -> bool:
        done = _git(self.bare, "merge-tree", "--write-tree", base, head, check=False)
        return done.returncode == 0

    def is_ancestor(self, older: str, newer: str) -> bool:
        done = _git(self.bare, "merge-base", "--is-ancestor", older, newer, check=False)
        return done.returncode == 0

    def messages(self, base: str, head: str) -> list[str]:
        out = _git(self.bare, "log", "--reverse", "--format=%B%x00", f"{base}..{head}").stdout
        return [m.strip() for m in out.split("\x00") if m.strip()]

    def delete_branch(self, branch: str) -> None:
        _git(self.bare, "update-ref", "-d", f"refs/heads/{branch}")

    def merge(self, base: str, head: str, method: str, message: str) -> str:
        """Land `head` on `base` with `method`; the new base head. Raises MergeConflict."""
        if not (self.scratch / ".git").is_dir():
            _git(self.scratch.parent, "clone", "-q", str(self.bare), str(self.scratch))
        run = self.scratch
        _git(run, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
        if method == "rebase":
            _git(run, "checkout", "-q", "-f", "-B", "work", head)
            if _git(run, "rebase", "-q", f"origin/{base}", check=False).returncode:
                _git(run, "rebase", "--abort", check=False)
                raise MergeConflict(head)
        else:
            _git(run, "checkout", "-q", "-f", "-B", "work", f"origin/{base}")
            args = ["--squash"] if method == "squash" else ["--no-ff", "-m", message]
            if _git(run, "merge", "-q", *args, head, check=False).returncode:
                _git(run, "merge", "--abort", check=False)
                _git(run, "reset", "-q", "--hard", check=False)
                raise MergeConflict(head)
            if method == "squash":
                _git(run, "commit", "-q", "--allow-empty", "-m", message)
        _git(run, "push", "-q", "origin", f"HEAD:refs/heads/{base}")
        return _git(run, "rev-parse", "HEAD").stdout.strip()
