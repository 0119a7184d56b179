"""The texts gitbot writes when people's commits meet its open PR, and the state as merged
(gitbot.core.pr_supersede): named table cases, each whole text pinned; the `/gitbot resume`
event in the wording of the drift's resume."""

from __future__ import annotations

import pytest
from test_decide_common import podinfo

from gitbot.core.drift import Action, PersonCommit
from gitbot.core.drift_messages import resumed_event as drift_resumed
from gitbot.core.pr_supersede import kept_event, merged_view, resumed_event, superseded_comment
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
