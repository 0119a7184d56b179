"""PR branches on the Git remote: push a commit gitbot made, delete a merged branch.

Used by the pull-request driver (`gitbot.pullrequests`). Runs `git` in the repository that holds
the commit (gitbot's working copy), with the workspace's environment (identity, credentials),
through the same bounded, secret-scrubbing `Runner` as the workspace. Never forces: a branch a
person pushed onto is kept as it is and reported; deleting uses a lease on the merged head.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from git.cmd import Git

from gitbot.adapters.git_branches import check_branch, fetch_branch, raise_unless_stale
from gitbot.adapters.git_errors import GitConflictError
from gitbot.adapters.git_runner import Runner
from gitbot.errors import GitbotError

log = logging.getLogger("gitbot.forge")


@dataclass(frozen=True)
class PushResult:
    """What the remote branch holds after `push`."""

    head: str  # the branch head on the remote
    created: bool  # the push created the branch (so no PR can exist for it yet)
    foreign: bool = False  # a person's commits sit on top of gitbot's


class RemoteBranches:
    """Pushes and deletes PR branches of one remote (`origin` of `repo_dir`)."""

    def __init__(
        self,
        repo_dir: Path,
        env: Mapping[str, str],
        *,
        timeout: float = 60,
        secrets: Callable[[], list[str]] = list,
    ) -> None:
        self._run = Runner(Git(str(repo_dir)), env, timeout, secrets)

    def push(self, sha: str, branch: str) -> PushResult:
        """Make `branch` on the remote hold `sha`, never overwriting a person's commits."""
        check_branch(branch)
        ref = f"refs/heads/{branch}"
        result = self._run.run("push", "--porcelain", "origin", f"{sha}:{ref}", check=False)
        if result.ok:
            created = "[new branch]" in result.out
            log.info("pushed %s to %s%s", sha[:12], branch, " (new)" if created else "")
            return PushResult(head=sha, created=created)
        raise_unless_stale(self._run, result)
        head = fetch_branch(self._run, branch)
        if head is None:  # deleted between the push and the fetch: try once more
            return self.push(sha, branch)
        if self._run.run("merge-base", "--is-ancestor", sha, head, check=False).ok:
            log.warning("%s carries commits on top of gitbot's %s; kept", branch, sha[:12])
            return PushResult(head=head, created=False, foreign=True)
        if self._same_change(sha, head):
            log.info("%s already holds gitbot's earlier commit for this change; kept", branch)
            return PushResult(head=head, created=False)
        raise GitConflictError(
            f"branch {branch} on the remote holds {head[:12]}, which does not contain gitbot's "
            f"commit {sha[:12]}; gitbot does not force-push over it"
        )

    def _same_change(self, ours: str, theirs: str) -> bool:
        """Both commits carry the same Gitbot-Canary and Gitbot-Step (a restart re-committed)."""
        fmt = ("--format=%(trailers:key=Gitbot-Canary,valueonly)|"
               "%(trailers:key=Gitbot-Step,valueonly)")
        mine = self._run.run("log", "-1", fmt, ours, check=False).out.strip()
        other = self._run.run("log", "-1", fmt, theirs, check=False).out.strip()
        return bool(mine) and mine != "|" and mine == other

    def added(self, ours: str, branch: str, most: int = 10) -> list[tuple[str, str, str]]:
        """(sha, author, subject) of the commits on the remote `branch` after gitbot's `ours`,
        newest first (a person's commits pushed onto gitbot's PR branch); [] when none."""
        check_branch(branch)
        head = fetch_branch(self._run, branch)
        if head is None or head == ours:
            return []
        result = self._run.run("log", f"--max-count={most}", "--format=%H%x1f%an%x1f%s",
                               f"{ours}..{head}", "--", check=False)
        rows = [line.split("\x1f") for line in result.out.splitlines()] if result.ok else []
        return [(r[0], r[1], r[2]) for r in rows if len(r) == 3]

    def message(self, sha: str) -> str:
        """The full message of a commit in the local repository ("" when it is not there)."""
        result = self._run.run("log", "-1", "--format=%B", sha, "--", check=False, strip=False)
        return result.out.strip() if result.ok else ""

    def head(self, branch: str) -> str | None:
        """The branch head on the remote, or None when it does not exist."""
        check_branch(branch)
        return fetch_branch(self._run, branch)

    def delete(self, branch: str, expect: str) -> bool:
        """Delete the branch if it still holds `expect`; False when it moved (a person's
        commit is kept). A branch the forge deleted itself on merge (GitHub's
        `delete_branch_on_merge`) is no error: the lease fails as "stale info", a fetch finds
        nothing, and that counts as deleted."""
        check_branch(branch)
        ref = f"refs/heads/{branch}"
        lease = f"--force-with-lease={ref}:{expect}"
        result = self._run.run("push", "--porcelain", lease, "origin", f":{ref}", check=False)
        if result.ok:
            return True
        if "stale info" in result.out and self._gone(branch):
            log.info("branch %s was deleted on the remote already", branch)
            return True
        why = next((line for line in result.out.splitlines() if line.startswith("!")),
                   result.err.strip())
        log.info("kept branch %s: %s", branch, self._run.clean_text(why.strip("!\t ")))
        return False

    def _gone(self, branch: str) -> bool:
        try:
            return fetch_branch(self._run, branch) is None
        except GitbotError:  # cannot tell: keep saying "kept"
            return False
