"""A merged PR (mergeMethod merge) puts gitbot's trailers on both the merge commit and the branch
commit it merged: the history helpers walk the first-parent chain so each change counts once,
and a rollback reverts only the mainline commits."""

from __future__ import annotations

from dataclasses import replace

from gitbot.adapters.git import CommitInfo
from gitbot.history import for_cluster, last_gitbot_commit, mainline, run_commits

KEY = "test/podinfo"


def _c(sha: str, parents: tuple[str, ...], action: str = "", step: int = 0) -> CommitInfo:
    trailers = {"Gitbot-Canary": [KEY], "Gitbot-Action": [action],
                "Gitbot-Step": [str(step)]} if action else {}
    return CommitInfo(sha, f"{sha} {action}", "", trailers, "2026-11-22T10:00:00Z", parents)


# main: M2 (merges b2) <- M1 (merges b1) <- base; b2 <- M1, b1 <- base
HISTORY = [
    _c("M2", ("M1", "b2"), "advance", 3),
    _c("b2", ("M1",), "advance", 3),
    _c("M1", ("base", "b1"), "scale-up", 2),
    _c("b1", ("base",), "scale-up", 2),
    _c("base", ("init",), "initialize", 1),
]


def test_mainline_is_the_first_parent_chain() -> None:
    assert [c.sha for c in mainline(HISTORY)] == ["M2", "M1", "base"]
    assert mainline([]) == []


def test_a_rollback_reverts_each_merged_change_once() -> None:
    assert [c.sha for c in run_commits(HISTORY, KEY)] == ["M2", "M1"]


def _cluster(commit: CommitInfo, cluster: str) -> CommitInfo:
    return replace(commit, trailers={**commit.trailers, "Gitbot-Cluster": [cluster]})


# Two gitbots, one per cluster, on one branch: eu's and us's commits for the same canary key
# interleave with a developer's commit.
TWO_CLUSTERS = [
    _c("dev", ("us3",)),
    _cluster(_c("us3", ("eu2",), "advance", 3), "clusters/us"),
    _cluster(_c("eu2", ("us1",), "advance", 2), "clusters/eu"),
    _cluster(_c("us1", ("eu1",), "scale-up", 1), "clusters/us"),
    _cluster(_c("eu1", ("root",), "scale-up", 1), "clusters/eu"),
]


def test_another_clusters_commits_neither_count_nor_break_the_chain() -> None:
    eu = for_cluster(TWO_CLUSTERS, "clusters/eu")
    assert [c.sha for c in mainline(eu)] == ["dev", "us3", "eu2", "us1", "eu1"]
    assert eu[1].trailers == {"Gitbot-Cluster": ["clusters/us"]}  # gitbot's, not this canary's
    last = last_gitbot_commit(eu, KEY)
    assert last is not None and last.sha == "eu2"  # what eu's cluster must have applied
    assert [c.sha for c in run_commits(eu, KEY)] == ["eu2", "eu1"]
    assert [c.sha for c in run_commits(for_cluster(TWO_CLUSTERS, "clusters/us"), KEY)] == [
        "us3", "us1"]
