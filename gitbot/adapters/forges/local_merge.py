"""Merging a PR branch into the base branch with real `git`, in a scratch clone of the remote.

Used by the local forge (`gitbot.adapters.forges.local`). The scratch clone is the forge's own
(never gitbot's working copy), so a merge never disturbs the reconciler. `merge`, `squash` and
`rebase` behave as on GitHub; the head SHA is checked first (a moved head is `stale`), a branch
already contained in the base counts as merged (so a restart never merges twice), a conflict is
reported and aborted, and the push to the base branch is never forced.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from git.cmd import Git

from gitbot.adapters.forges.base import MergeResult
from gitbot.adapters.git_branches import fetch_branch, raise_unless_stale
from gitbot.adapters.git_errors import GitError
from gitbot.adapters.git_runner import Runner

log = logging.getLogger("gitbot.forge")

_ATTEMPTS = 3


class ScratchMerger:
    """A clone of `url` in `scratch_dir` used only for merges and reading branch heads."""

    def __init__(
        self,
        url: str,
        scratch_dir: Path,
        env: Mapping[str, str],
        *,
        timeout: float = 60,
        secrets: Callable[[], list[str]] = list,
    ) -> None:
        self._url = url
        self._dir = Path(scratch_dir).absolute()
        self._env = dict(env)
        self._timeout = timeout
        self._secrets = secrets

    def _runner(self) -> Runner:
        if not (self._dir / ".git").is_dir():
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir.parent.mkdir(parents=True, exist_ok=True)
            outside = Runner(Git(str(self._dir.parent)), self._env, self._timeout, self._secrets)
            outside.run("clone", "-q", "--no-checkout", "--", self._url, str(self._dir))
        return Runner(Git(str(self._dir)), self._env, self._timeout, self._secrets)

    def head(self, branch: str) -> str | None:
        """The branch head on the remote (fetched now), or None."""
        return fetch_branch(self._runner(), branch)

    def merge(self, branch: str, base: str, expect: str, method: str, message: str) -> MergeResult:
        run = self._runner()
        for _attempt in range(_ATTEMPTS):
            head = fetch_branch(run, branch)
            base_sha = fetch_branch(run, base)
            if base_sha is None:
                raise GitError(f"base branch {base} does not exist on the remote")
            if head is None:
                return MergeResult(False, reason=f"branch {branch} no longer exists")
            if head != expect:
                return MergeResult(
                    False, stale=True, reason=f"head moved to {head[:12]}, expected {expect[:12]}"
                )
            if run.run("merge-base", "--is-ancestor", head, base_sha, check=False).ok:
                return MergeResult(True, sha=base_sha)  # already merged
            outcome = _METHODS[method](run, head, base_sha, message)
            if isinstance(outcome, MergeResult):
                return outcome
            if outcome == base_sha:
                return MergeResult(True, sha=base_sha)  # nothing left to apply
            pushed = run.run("push", "--porcelain", "origin", f"{outcome}:refs/heads/{base}",
                             check=False)
            if pushed.ok:
                log.info("merged %s into %s (%s) as %s", branch, base, method, outcome[:12])
                return MergeResult(True, sha=outcome)
            raise_unless_stale(run, pushed)
            log.info("%s moved while merging %s; merging again", base, branch)
        return MergeResult(False, reason=f"{base} kept moving; try again")


def _start(run: Runner, ref: str, local: str = "gitbot-merge") -> None:
    run.run("checkout", "-q", "-f", "-B", local, ref)
    run.run("clean", "-q", "-ffdx")


def _conflict(run: Runner, abort: tuple[str, ...]) -> MergeResult:
    files = run.run("diff", "--name-only", "--diff-filter=U", check=False).out.split()
    run.run(*abort, check=False)
    run.run("reset", "-q", "--hard", check=False)
    return MergeResult(False, reason="conflicts with the base branch: " + ", ".join(files),
                       conflict=True)


def _merge(run: Runner, head: str, base_sha: str, message: str) -> str | MergeResult:
    _start(run, base_sha)
    if not run.run("merge", "-q", "--no-ff", "--no-edit", "-m", message, head, check=False).ok:
        return _conflict(run, ("merge", "--abort"))
    return run.text("rev-parse", "HEAD")


def _squash(run: Runner, head: str, base_sha: str, message: str) -> str | MergeResult:
    _start(run, base_sha)
    if not run.run("merge", "-q", "--squash", head, check=False).ok:
        return _conflict(run, ("merge", "--abort"))
    if run.run("diff", "--cached", "--quiet", check=False).ok:
        return base_sha
    run.run("commit", "-q", "--cleanup=whitespace", "-m", message)
    return run.text("rev-parse", "HEAD")


def _rebase(run: Runner, head: str, base_sha: str, message: str) -> str | MergeResult:
    del message  # the rebased commits keep their own messages (and trailers)
    _start(run, head)
    if not run.run("rebase", "-q", base_sha, check=False).ok:
        return _conflict(run, ("rebase", "--abort"))
    return run.text("rev-parse", "HEAD")


_METHODS: dict[str, Callable[[Runner, str, str, str], str | MergeResult]] = {
    "merge": _merge,
    "squash": _squash,
    "rebase": _rebase,
}
