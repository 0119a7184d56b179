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


def last_gitbot_commit(history: Iterable[CommitInfo], key: str) -> CommitInfo | None:
    """The newest commit gitbot made for this canary (what the cluster must have applied)."""
    return next((c for c in history if trailer(c, "Gitbot-Canary") == key), None)


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


def rollout_commits(history: Iterable[CommitInfo], key: str, rollout_id: str) -> list[CommitInfo]:
    """This run's own commits, newest first, excluding rollbacks (what a rollback reverts)."""
    return [
        c
        for c in history
        if trailer(c, "Gitbot-Canary") == key
        and trailer(c, "Gitbot-Rollout") == rollout_id
        and trailer(c, "Gitbot-Action") != "rollback"
    ]
