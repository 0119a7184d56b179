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


CLUSTER_TRAILER = "Gitbot-Cluster"


def for_cluster(history: Iterable[CommitInfo], cluster: str | None) -> list[CommitInfo]:
    """The commits that may belong to `cluster` (a Flux cluster directory; None: every one).

    gitbot serving one cluster of a repository that holds several marks its commits with
    `Gitbot-Cluster`; a canary `ns/name` of another cluster is then another canary, whose
    commits are neither resumed, awaited nor reverted here.
    """
    return [c for c in history
            if cluster is None or trailer(c, CLUSTER_TRAILER) in ("", cluster)]


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


RUN_START = "scale-up"
RUN_BOUNDARIES = frozenset({"rollback", "scale-down", "initialize", "initialize-primary"})


def run_commits(history: Iterable[CommitInfo], key: str) -> list[CommitInfo]:
    """The current run's own commits, newest first: back to its `scale-up` commit.

    Found by walking the branch rather than by rollout id, so a run restarted by a new revision
    (which takes a new rollout id) is reverted whole, scale-up included.
    """
    commits: list[CommitInfo] = []
    for commit in history:
        if trailer(commit, "Gitbot-Canary") != key:
            continue
        action = trailer(commit, "Gitbot-Action")
        if action in RUN_BOUNDARIES:
            break
        commits.append(commit)
        if action == RUN_START:
            break
    return commits
