"""A merged PR (mergeMethod merge) puts gitbot's trailers on both the merge commit and the branch
commit it merged: the history helpers walk the first-parent chain so each change counts once,
and a rollback reverts only the mainline commits."""

from __future__ import annotations

from gitbot.adapters.git import CommitInfo
from gitbot.history import mainline, run_commits

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
