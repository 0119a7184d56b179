"""Helpers for the Git workspace tests: seeded bare repositories and a second, plain-git clone.

Imported by tests/test_git.py and tests/test_git_credentials.py. Everything is real `git` run
with subprocess against bare repositories in pytest's tmp_path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitbot.adapters.git import GitWorkspace

IDENTITY = {
    "GIT_AUTHOR_NAME": "other",
    "GIT_AUTHOR_EMAIL": "other@example.com",
    "GIT_COMMITTER_NAME": "other",
    "GIT_COMMITTER_EMAIL": "other@example.com",
    "GIT_TERMINAL_PROMPT": "0",
}

SEED = {
    "apps/podinfo/vs.yaml": "route:\n  primary: 100\n  canary: 0\n",
    "apps/podinfo/deploy.yaml": "replicas: 2\nimage: podinfo:6.0.0\n",
    "README.md": "gitops\n",
}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in `cwd` with a test identity; return stripped stdout."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def make_remote(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """A bare repository whose `main` holds one commit with `files` (default SEED)."""
    bare = tmp_path / "remote.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare", "-b", "main")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    for path, text in (files or SEED).items():
        write(seed, path, text)
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", str(bare), "main")
    return bare


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def remote_head(bare: Path, branch: str = "main") -> str:
    return git(bare, "rev-parse", f"refs/heads/{branch}")


def remote_file(bare: Path, path: str, branch: str = "main") -> str:
    return subprocess.run(
        ["git", "cat-file", "blob", f"{branch}:{path}"],
        cwd=bare,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


class Clone:
    """Another writer to the same remote, using plain git."""

    def __init__(self, bare: Path, where: Path) -> None:
        self.root = where
        git(where.parent, "clone", "-q", str(bare), str(where))

    def change(self, path: str, text: str, message: str = "other change") -> str:
        """Pull, write a file, commit and push; return the new sha."""
        git(self.root, "pull", "-q", "--rebase", "origin", "main")
        write(self.root, path, text)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        git(self.root, "push", "-q", "origin", "HEAD:main")
        return git(self.root, "rev-parse", "HEAD")


def child_processes() -> list[str]:
    """`pid comm` of every live or zombie child of this process (read from /proc)."""
    me = os.getpid()
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me:
            children.append(f"{entry} {comm}")
    return children


def gitbot_commit(ws: GitWorkspace, key: str, step: int, action: str = "advance") -> str:
    """A commit as gitbot makes it for canary `key` (its trailers), in workspace `ws`."""
    (ws.root / f"{key.replace('/', '-')}.txt").write_text(f"{step}\n")
    sha = ws.commit(f"{key}: {action} {step}", trailers=[
        ("Gitbot-Canary", key), ("Gitbot-Step", str(step)), ("Gitbot-Action", action)])
    assert sha is not None
    return sha
