"""The texts gitbot writes when people's commits meet its open PR, and the state as merged
(gitbot.core.pr_supersede): named table cases, each whole text pinned; the comments closing a
PR proposed again (a conflict, or a PR only behind a protected base) and the one on a PR that
waits for a required check (gitbot.core.pr_held) as golden files under tests/data/pr_comment_*
(GITBOT_UPDATE_GOLDEN=1 rewrites them); the `/gitbot resume` event in the wording of the
drift's resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_decide_common import podinfo

from gitbot.core.drift import Action, PersonCommit
from gitbot.core.drift_messages import resumed_event as drift_resumed
from gitbot.core.pr_held import held_comment, held_key, same_head
from gitbot.core.pr_supersede import (
    again_log,
    kept_event,
    merged_view,
    resumed_event,
    superseded_comment,
)
from gitbot.core.state import Phase, PullRequestRef, RepoChange, RolloutState, Traffic
from gitbot.core.state_json import state_from_json, state_to_json

DANA = PersonCommit("0123456789abcdef" * 2 + "01234567", "dana", "hold at half")
HEAD = 'Superseded by 0123456789ab (dana: "hold at half"), pushed to `main`'


@pytest.mark.parametrize(("kwargs", "text"), [
    pytest.param(
        {"findings": "traffic primary 50% canary 50%", "action": Action.HALT},
        f"{HEAD}: it changes what gitbot manages (traffic primary 50% canary 50%). gitbot does "
        "not merge this pull request over it; gitbot halts the canary (no commit, no analysis) "
        "until the branch declares gitbot's values again, then proposes the step anew.",
        id="drift-halt"),
    pytest.param(
        {"findings": "traffic primary 100% canary 0%", "action": Action.ROLLED_BACK},
        f"{HEAD}: it changes what gitbot manages (traffic primary 100% canary 0%). gitbot does "
        "not merge this pull request over it; gitbot takes it as a manual rollback: the run "
        "ends Failed and gitbot commits nothing.",
        id="drift-manual-rollback"),
    pytest.param(
        {"findings": "the canary is scaled to 0 replicas", "action": Action.ROLLBACK},
        f"{HEAD}: it changes what gitbot manages (the canary is scaled to 0 replicas). gitbot "
        "does not merge this pull request over it; gitbot rolls the canary back (all traffic "
        "to the primary, canary at 0).",
        id="drift-rollback"),
    pytest.param(
        {"conflict": True, "replacement": "#7 https://github.test/acme/gitops/pull/7",
         "step": "step 4 (advance canary weight 20)"},
        f"{HEAD}; it conflicts with this change. gitbot never force-pushes over a person's "
        "commit: it proposed step 4 (advance canary weight 20) again from the new `main` as "
        "#7 https://github.test/acme/gitops/pull/7.",
        id="conflict-proposed-again"),
    pytest.param(
        {"conflict": True},
        f"{HEAD}; `main` now declares this change already, so nothing is left to merge.",
        id="conflict-already-declared"),
])
def test_superseded_comment(kwargs: dict[str, object], text: str) -> None:
    assert superseded_comment("main", DANA, **kwargs) == text  # type: ignore[arg-type]


DATA = Path(__file__).parent / "data"
REPLACEMENT = "#7 https://github.test/acme/gitops/pull/7"
STEP = "step 4 (advance canary weight 20)"


def _golden(name: str, text: str) -> None:
    path = DATA / name
    if os.environ.get("GITBOT_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(("name", "text"), [
    pytest.param("pr_comment_superseded_conflict.md", superseded_comment(
        "main", DANA, conflict=True, replacement=REPLACEMENT, step=STEP) + "\n",
        id="conflict"),
    pytest.param("pr_comment_superseded_behind.md", superseded_comment(
        "main", DANA, conflict=True, behind=True, replacement=REPLACEMENT, step=STEP) + "\n",
        id="behind-no-conflict"),
    pytest.param("pr_comment_checks_held.md", held_comment(
        "main", 'Required status check "ci" is expected.') + "\n",
        id="required-check-not-reported"),
])
def test_comment_golden(name: str, text: str) -> None:
    _golden(name, text)


@pytest.mark.parametrize(("behind", "comment", "log"), [
    pytest.param(False, "; it conflicts with this change.",
                 'pull request #3 conflicts with 0123456789ab (dana: "hold at half"); '
                 "proposing step 4 again", id="conflict"),
    pytest.param(True, "; this pull request does not conflict with it, but `main`'s branch "
                 "protection requires pull requests to be up to date with `main` before "
                 "merging, and this one is now behind.",
                 'pull request #3 is behind `main` after 0123456789ab (dana: "hold at half") '
                 "(no conflict; branch protection requires it up to date); proposing step 4 "
                 "again", id="behind"),
])
def test_a_pr_proposed_again_says_why_truly(behind: bool, comment: str, log: str) -> None:
    """A PR that is only behind a protected base is never said to conflict."""
    text = superseded_comment("main", DANA, conflict=True, behind=behind,
                              replacement=REPLACEMENT, step=STEP)
    assert text.startswith(HEAD + comment)
    assert ("conflicts" in text) is not behind
    assert again_log(3, "main", DANA, 4, behind=behind) == log
    assert ("conflicts" in log) is not behind


def test_the_held_key_names_the_head_and_the_checks_reported() -> None:
    a = held_key("a" * 40, ["gitbot/analysis: success"])
    assert a == held_key("a" * 40, ["gitbot/analysis: success"])
    b = held_key("a" * 40, ["gitbot/analysis: success", "lint: success"])
    assert a != b and same_head(a, b)
    assert not same_head("", b) and not same_head(held_key("b" * 40, []), a)


def test_a_commit_that_cannot_be_named_is_a_commit() -> None:
    assert superseded_comment("main", None, conflict=True).startswith(
        "Superseded by a commit, pushed to `main`;")


def test_kept_event_names_every_commit_and_author() -> None:
    other = PersonCommit("f" * 40, "eve", "typo")
    assert kept_event(5, [DANA, other]) == (
        'Pull request #5 merged with dana\'s commit 0123456789ab "hold at half"; eve\'s commit '
        "ffffffffffff \"typo\" pushed onto gitbot's branch (kept, not force-pushed away)")


def test_the_resumed_event_mirrors_the_drift_resume_wording() -> None:
    canary = podinfo()
    assert resumed_event(canary, 12) == (
        "Resuming podinfo.test advancement: /gitbot resume on pull request #12")
    assert drift_resumed(canary).startswith("Resuming podinfo.test advancement: ")


def test_the_merged_view_drops_the_unmerged_change() -> None:
    ref = PullRequestRef("gitbot/test/podinfo/4-advance", "a" * 40, "advance", 4, number=3,
                         base_traffic=Traffic(90, 10))
    waiting = RolloutState(phase=Phase.PROGRESSING, traffic=Traffic(80, 20), step=4,
                           pending=RepoChange("advance", "advance canary weight 20",
                                              traffic=Traffic(80, 20)), pull_request=ref)
    merged = merged_view(waiting, ref)
    assert (merged.traffic, merged.step, merged.pending, merged.pull_request) == (
        Traffic(90, 10), 3, None, None)
    assert merged.phase is Phase.PROGRESSING


def test_the_base_traffic_survives_the_state_branch() -> None:
    ref = PullRequestRef("gitbot/test/podinfo/4-advance-r2", "a" * 40, "advance", 4, number=3,
                         attempt=2, base_traffic=Traffic(90, 10))
    state = RolloutState(step=4, pull_request=ref)
    assert state_from_json(state_to_json(state)).pull_request == ref
