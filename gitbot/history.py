"""Read gitbot's own commits back from the branch history by their trailers.

Called by the reconciler (resume a pending step, find a run's commits for the rollback) and by
the observer (which commit the cluster must have applied).
"""

from __future__ import annotations

from collections.abc import Iterable

from gitbot.adapters.git import CommitInfo


def trailer(commit: CommitInfo, key: str) -> str:
    """The last value of a trailer, or ""."""
    values = commit.trailers.get(key) or []
    return values[-1] if values else ""


def mainline(history: Iterable[CommitInfo]) -> list[CommitInfo]:
    """The first-parent chain of a newest-first log: a merged PR counts once (its merge commit
    carries the same trailers as the branch commit it merged)."""
    commits = list(history)
    if not commits:
        return commits
    wanted: str | None = commits[0].sha
    chain = []
    for commit in commits:
        if commit.sha == wanted:
            chain.append(commit)
            wanted = commit.parents[0] if commit.parents else None
    return chain


def last_gitbot_commit(history: Iterable[CommitInfo], key: str) -> CommitInfo | None:
    """The newest commit gitbot made for this canary (what the cluster must have applied)."""
    return next((c for c in mainline(history) if trailer(c, "Gitbot-Canary") == key), None)


def find_step(history: Iterable[CommitInfo], key: str, step: int) -> CommitInfo | None:
    """The commit that landed step `step` of this canary, if it is on the branch."""
    return next(
        (
            c
            for c in history
            if trailer(c, "Gitbot-Canary") == key and trailer(c, "Gitbot-Step") == str(step)
        ),
        None,
    )


RUN_START = "scale-up"
RUN_BOUNDARIES = frozenset({"rollback", "scale-down", "initialize"})


def run_commits(history: Iterable[CommitInfo], key: str) -> list[CommitInfo]:
    """The current run's own commits, newest first: back to its `scale-up` commit.

    Found by walking the branch rather than by rollout id, so a run restarted by a new revision
    (which takes a new rollout id) is reverted whole, scale-up included.
    """
    commits: list[CommitInfo] = []
    for commit in mainline(history):
        if trailer(commit, "Gitbot-Canary") != key:
            continue
        action = trailer(commit, "Gitbot-Action")
        if action in RUN_BOUNDARIES:
            break
        commits.append(commit)
        if action == RUN_START:
            break
    return commits
