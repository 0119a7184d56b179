"""Multi-step working-tree operations of the Git workspace: reset, rebase, revert.

Used by `GitWorkspace` (gitbot.adapters.git). Each operation either completes or leaves the
working copy clean (aborted and reset) and raises `GitConflictError` naming the files and the
commits on both sides.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from gitbot.adapters.git_errors import GitConflictError, GitInputError
from gitbot.adapters.git_runner import Result, Runner

_STATE_FILES = (
    "rebase-merge", "rebase-apply", "sequencer", "MERGE_HEAD", "MERGE_MSG", "MERGE_MODE",
    "CHERRY_PICK_HEAD", "REVERT_HEAD", "AUTO_MERGE", "index.lock", "HEAD.lock",
)


def clear_operation_state(git_dir: Path) -> None:
    """Forget any half-done rebase, merge, cherry-pick or revert and any stale lock."""
    for name in _STATE_FILES:
        target = git_dir / name
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink(missing_ok=True)


def reset_to(run: Runner, git_dir: Path, branch: str, ref: str) -> None:
    """Check out `branch` at `ref` with a clean working tree (no untracked or ignored files)."""
    clear_operation_state(git_dir)
    run.run("checkout", "-q", "-f", "-B", branch, ref)
    run.run("reset", "-q", "--hard", ref)
    run.run("clean", "-q", "-ffdx")


def rebase(run: Runner, git_dir: Path, branch: str, onto: str) -> None:
    """Rebase the local commits onto `onto`; on conflict reset to `onto` and raise."""
    ours = commits(run, f"{onto}..HEAD")
    theirs = commits(run, f"HEAD..{onto}")
    if run.run("rebase", "-q", onto, check=False).ok:
        return
    files = unmerged(run)
    run.run("rebase", "--abort", check=False)
    reset_to(run, git_dir, branch, onto)
    raise GitConflictError(
        f"pushing to {branch} conflicts with commits already there: "
        f"files {', '.join(files) or '(unknown)'}; ours: {'; '.join(ours)}; "
        f"theirs: {'; '.join(theirs)}. Our commits were dropped and the working copy reset "
        f"to origin/{branch}.",
        files=files,
        ours=ours,
        theirs=theirs,
    )


def revert_into_index(run: Runner, git_dir: Path, branch: str, shas: Sequence[str]) -> None:
    """Stage the revert of every commit in `shas` (newest first) without committing."""
    for sha in newest_first(run, branch, shas):
        parents = run.text("rev-list", "--parents", "-n", "1", sha).split()[1:]
        mainline = ["-m", "1"] if len(parents) > 1 else []
        result = run.run("revert", "--no-commit", *mainline, sha, check=False)
        if not result.ok:
            _abort_revert(run, git_dir, branch, sha, result)


def newest_first(run: Runner, branch: str, shas: Sequence[str]) -> list[str]:
    """Full shas of `shas`, each on HEAD's history, ordered newest first (topologically)."""
    full = []
    for sha in dict.fromkeys(shas):
        result = run.run("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False)
        if sha.startswith("-") or not result.ok:
            raise GitInputError(f"cannot revert {sha}: no such commit")
        full.append(result.out.strip())
    rank = {sha: i for i, sha in enumerate(run.text("rev-list", "--topo-order", "HEAD").split())}
    missing = [sha[:12] for sha in full if sha not in rank]
    if missing:
        raise GitInputError(f"cannot revert {', '.join(missing)}: not on {branch}")
    return sorted(full, key=rank.__getitem__)


def _abort_revert(run: Runner, git_dir: Path, branch: str, sha: str, result: Result) -> None:
    files = unmerged(run)
    run.run("revert", "--abort", check=False)
    reset_to(run, git_dir, branch, "HEAD")
    if not files:
        raise run.failure(("revert",), result)
    ours = commits(run, "-n", "1", "HEAD")
    theirs = commits(run, "-n", "1", sha)
    raise GitConflictError(
        f"reverting {sha[:12]} on {branch} conflicts in {', '.join(files)}; "
        f"ours: {'; '.join(ours)}; theirs: {'; '.join(theirs)}. Nothing was committed.",
        files=files,
        ours=ours,
        theirs=theirs,
    )


def commits(run: Runner, *rev_args: str) -> tuple[str, ...]:
    """`<short sha> <subject>` of each commit the rev arguments select."""
    out = run.run("log", "--format=%h %s", *rev_args, "--", check=False).out
    return tuple(line for line in out.splitlines() if line.strip())


def unmerged(run: Runner) -> tuple[str, ...]:
    """Paths with unresolved conflicts in the index."""
    out = run.run("diff", "--name-only", "--diff-filter=U", check=False).out
    return tuple(sorted({line for line in out.splitlines() if line.strip()}))
