"""Pull-request mode's pure additions to the state machine (`gitbot.core.decide_pr`): the state
while the promotion PR waits, the rollback when people refuse a PR, a promotion merged by a
person, and the per-tick analysis record the promotion PR body shows."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_decide_common import (
    NOW,
    REV_A,
    REV_B,
    RUN_ID,
    observe,
    passing,
    podinfo,
    run_decide,
    run_state,
)

from gitbot.core import decide_pr
from gitbot.core.state import Phase, PullRequestRef, RolloutState
from gitbot.core.state_json import state_from_json, state_to_json

REF = PullRequestRef("gitbot/test/podinfo/8-promote", "f" * 40, "promote", 8, number=7)


def _at_promotion() -> RolloutState:
    return run_state(weight=50, step=7, last_promoted_spec=REV_A)


def test_the_first_wait_counts_the_step_and_says_which_pr() -> None:
    before = _at_promotion()
    decided = run_decide(podinfo(), before, observe(metrics=passing())).state
    assert decided.phase is Phase.PROMOTING and decided.pending is not None
    held = decide_pr.held_for_review(podinfo(), before, decided, REF, NOW)
    assert (held.phase, held.pending, held.pull_request) == (Phase.WAITING_PROMOTION, None, REF)
    assert held.step == 8 and held.last_promoted_spec == REV_A
    assert held.events[-1].message == (
        "Halt podinfo.test advancement waiting for promotion approval pull request #7")


def test_later_waits_repeat_nothing() -> None:
    waiting = replace(_at_promotion(), phase=Phase.WAITING_PROMOTION, step=8, pull_request=REF)
    decided = run_decide(podinfo(), waiting, observe(metrics=passing())).state
    held = decide_pr.held_for_review(podinfo(), waiting, decided, REF, NOW)
    assert held.step == 8 and held.events == waiting.events
    assert (held.phase, held.pending) == (Phase.WAITING_PROMOTION, None)


def test_people_refusing_a_pr_roll_the_run_back() -> None:
    waiting = replace(_at_promotion(), phase=Phase.WAITING_PROMOTION, step=8, pull_request=REF)
    decision = decide_pr.rejected(podinfo(), waiting, "pull request #7 rejected: abort", NOW)
    change = decision.change
    assert change is not None and change.revert and change.action == "rollback"
    assert change.reason == "pull request #7 rejected: abort"
    state = decision.state
    assert (state.phase, state.step, state.pending) == (Phase.FAILED, 9, change)
    assert state.pull_request == REF  # the landing closes it with the rollback's reason
    assert decision.events[0].message == (
        "Rolling back podinfo.test: pull request #7 rejected: abort")
    assert decision.post_rollout == "Failed"


def test_a_promotion_merged_by_a_person_counts_as_promoted() -> None:
    waiting = replace(_at_promotion(), phase=Phase.WAITING_PROMOTION, pull_request=REF)
    state = decide_pr.promotion_merged(podinfo(), waiting, NOW)
    assert (state.phase, state.pull_request, state.last_promoted_spec) == (
        Phase.PROMOTING, None, REV_B)


@pytest.mark.parametrize(
    ("phase", "synced", "recorded"),
    [
        pytest.param(Phase.PROGRESSING, True, 1, id="analysis-tick"),
        pytest.param(Phase.WAITING_PROMOTION, True, 1, id="while-the-promotion-waits"),
        pytest.param(Phase.PROGRESSING, False, 0, id="cluster-not-synced"),
        pytest.param(Phase.SUCCEEDED, True, 0, id="idle"),
    ],
)
def test_record_tick(phase: Phase, synced: bool, recorded: int) -> None:
    before = run_state(phase=phase, weight=20)
    obs = observe(metrics=passing(), cluster_synced=synced)
    decision = decide_pr.record_tick(before, run_decide(podinfo(), before, obs), obs, NOW)
    ticks = decision.state.ticks
    assert len(ticks) == recorded
    if ticks:
        assert (ticks[0].time, ticks[0].weight, ticks[0].metrics) == (
            "2026-11-22T10:00:00Z", 20, passing())
        again = state_from_json(json.loads(json.dumps(state_to_json(decision.state))))
        assert again.ticks == ticks


def test_a_new_run_starts_a_new_record() -> None:
    before = run_state(weight=20)
    obs = observe(metrics=passing())
    first = decide_pr.record_tick(before, run_decide(podinfo(), before, obs), obs, NOW)
    assert first.state.rollout_id == RUN_ID
    carried = replace(before, ticks=first.state.ticks)
    renewed = run_decide(podinfo(), carried, obs)
    renewed = replace(renewed, state=replace(renewed.state, rollout_id="other-2"))
    record = decide_pr.record_tick(carried, renewed, obs, NOW).state.ticks
    assert len(record) == 1  # only this tick: the earlier run's record is dropped
