"""Rebuilding a lost rollout state from gitbot's commit trailers and the manifests (pure table).

Each case feeds `recover` the trailers of gitbot's commits for podinfo (newest first, written as
`commit(action, weight, ...)`) and what the manifests declare, and names the state it must give
back, or the rollback when the run cannot be proven."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from test_decide_common import BLUE_GREEN, NOW, REV_A, REV_B, REV_C, podinfo

from gitbot.core.recovery import (
    GitbotCommit,
    ManifestFacts,
    enough_history,
    recover,
    recovery_decision,
)
from gitbot.core.spec import Canary
from gitbot.core.state import Phase, Traffic

RUN = f"{REV_B[:12]}-3"


def commit(action: str, weight: int = 0, *, step: int, rev: str = REV_B, rollout: str = RUN,
           phase: str = "", iterations: str = "") -> GitbotCommit:
    values = {
        "Gitbot-Canary": "test/podinfo", "Gitbot-Action": action, "Gitbot-Rollout": rollout,
        "Gitbot-Revision": rev, "Gitbot-Weight": str(weight), "Gitbot-Step": str(step),
    }
    if phase:
        values["Phase"] = phase
    if iterations:
        values["Iterations"] = iterations
    return GitbotCommit.from_trailers(f"{step:040d}", values)


INIT = commit("initialize", step=1, rev=REV_A, rollout="none", phase="Initialized")
PREVIOUS_RUN = [  # a run of REV_A that succeeded earlier, newest first
    commit("scale-down", step=6, rev=REV_A, rollout=f"{REV_A[:12]}-2", phase="Succeeded"),
    commit("route-to-primary", step=5, rev=REV_A, rollout=f"{REV_A[:12]}-2"),
    commit("promote", 50, step=4, rev=REV_A, rollout=f"{REV_A[:12]}-2"),
]
SCALE_UP = commit("scale-up", step=7)
AT_20 = [commit("advance", 20, step=9), commit("advance", 10, step=8), SCALE_UP]
AT_50 = [commit("advance", 50, step=12), commit("advance", 40, step=11),
         commit("advance", 30, step=10), *AT_20]
PROMOTED = [commit("promote", 50, step=13), *AT_50]
FINALISING = [commit("route-to-primary", step=14), *PROMOTED]


def facts(weight: int | None = 0, replicas: int | None = 2, primary_is_target: bool = False,
          target: str = REV_B, mirror: bool = False) -> ManifestFacts:
    traffic = None if weight is None else Traffic(100 - weight, weight, mirror)
    return ManifestFacts(traffic, replicas, primary_is_target, target)


@dataclass(frozen=True)
class Want:
    phase: Phase
    weight: int
    step: int
    applied: str = REV_B
    promoted: str = REV_A
    rollout: str = RUN
    iterations: int = 0
    rollback: bool = False


CASES = [
    pytest.param([INIT], facts(primary_is_target=False), podinfo(),
                 Want(Phase.INITIALIZED, 0, 1, applied=REV_A, rollout="", ),
                 id="initialized-then-released: the new target is not promoted"),
    pytest.param([INIT], facts(primary_is_target=True, target=REV_A), podinfo(),
                 Want(Phase.INITIALIZED, 0, 1, applied=REV_A, rollout=""),
                 id="initialized-idle"),
    pytest.param([SCALE_UP, INIT], facts(0), podinfo(),
                 Want(Phase.PROGRESSING, 0, 7), id="progressing-after-scale-up"),
    pytest.param([*AT_20, INIT], facts(20), podinfo(),
                 Want(Phase.PROGRESSING, 20, 9), id="progressing-at-20"),
    pytest.param([*AT_20, *PREVIOUS_RUN], facts(20), podinfo(),
                 Want(Phase.PROGRESSING, 20, 9), id="progressing-promoted-from-previous-run"),
    pytest.param([*AT_50, INIT], facts(50), podinfo(),
                 Want(Phase.PROGRESSING, 50, 12), id="waiting-promotion-resumes-at-max-weight"),
    pytest.param([*PROMOTED, INIT], facts(50, primary_is_target=True), podinfo(),
                 Want(Phase.PROMOTING, 50, 13, promoted=REV_B), id="promoting"),
    pytest.param([*PROMOTED, INIT], facts(50, target=REV_C), podinfo(),
                 Want(Phase.PROMOTING, 50, 13, promoted=REV_B),
                 id="promoting-with-a-newer-target-released"),
    pytest.param([*FINALISING, INIT], facts(0, primary_is_target=True), podinfo(),
                 Want(Phase.FINALISING, 0, 14, promoted=REV_B), id="finalising"),
    pytest.param([commit("scale-down", step=15, phase="Succeeded"), *FINALISING, INIT],
                 facts(0, 0, primary_is_target=True), podinfo(),
                 Want(Phase.SUCCEEDED, 0, 15, promoted=REV_B), id="succeeded"),
    pytest.param([commit("scale-down", step=15, phase="Succeeded"), *FINALISING, INIT],
                 facts(0, 0, target=REV_C), podinfo(),
                 Want(Phase.SUCCEEDED, 0, 15, promoted=REV_B),
                 id="succeeded-then-released: the new target is not promoted"),
    pytest.param([commit("promote", 0, step=8, phase="Succeeded"), SCALE_UP, INIT],
                 facts(0, 0, primary_is_target=True), podinfo(),
                 Want(Phase.SUCCEEDED, 0, 8, promoted=REV_B), id="skip-analysis-promoted"),
    pytest.param([commit("rollback", step=12, phase="Failed"), *AT_20, INIT],
                 facts(0, 0), podinfo(),
                 Want(Phase.FAILED, 0, 12), id="failed"),
    pytest.param([commit("route-to-canary", 100, step=14, phase="Failed"), *PROMOTED, INIT],
                 facts(100), podinfo(),
                 Want(Phase.FAILED, 100, 14, promoted=REV_B), id="failed-promotion"),
    pytest.param([commit("mirror", 0, step=8, iterations="1/10"), SCALE_UP, INIT],
                 facts(0, mirror=True), BLUE_GREEN,
                 Want(Phase.PROGRESSING, 0, 8, iterations=1), id="blue-green-mirroring"),
    pytest.param([commit("route-to-canary", 100, step=8, iterations="11/10"), SCALE_UP, INIT],
                 facts(100), BLUE_GREEN,
                 Want(Phase.PROGRESSING, 100, 8, iterations=11), id="blue-green-routed"),
    # the manifests contradict the commits: the run cannot be proven and is rolled back
    pytest.param([*AT_20, INIT], facts(0), podinfo(),
                 Want(Phase.PROGRESSING, 0, 9, rollback=True),
                 id="weights-edited-by-hand: rollback"),
    pytest.param([*AT_20, INIT], facts(20, replicas=0), podinfo(),
                 Want(Phase.PROGRESSING, 20, 9, rollback=True),
                 id="canary-without-replicas: rollback"),
    pytest.param([*AT_20, INIT], facts(None), podinfo(),
                 Want(Phase.PROGRESSING, 0, 9, rollback=True),
                 id="no-virtual-service-route: rollback"),
    pytest.param([*PROMOTED, INIT], facts(50, primary_is_target=False), podinfo(),
                 Want(Phase.PROMOTING, 50, 13, promoted=REV_B, rollback=True),
                 id="promotion-not-in-the-primary: rollback"),
    pytest.param([commit("future-action", 20, step=9), *AT_20[1:], INIT], facts(20), podinfo(),
                 Want(Phase.PROGRESSING, 20, 9, rollback=True), id="unknown-action: rollback"),
]


@pytest.mark.parametrize(("commits", "manifests", "canary", "want"), CASES)
def test_recover(commits: list[GitbotCommit], manifests: ManifestFacts, canary: Canary,
                 want: Want) -> None:
    found = recover(canary, commits, manifests)
    assert found is not None
    state = found.state
    got = Want(state.phase, state.canary_weight, state.step, state.last_applied_spec,
               state.last_promoted_spec, state.rollout_id, state.iterations, found.rollback)
    assert got == want
    assert state.failed_checks == 0 and state.pending is None
    assert found.commit == commits[0]
    assert enough_history(commits)


def test_nothing_to_recover_without_gitbot_commits() -> None:
    assert recover(podinfo(), [], facts()) is None
    assert not enough_history([])
    assert not enough_history(AT_20)  # the run's start is not enough: the promoted revision
    assert enough_history([*AT_20, INIT])


def test_run_number_and_cookie_traffic_come_back() -> None:
    manifests = ManifestFacts(Traffic(80, 20, session_cookie="c=abc"), 2, False, REV_B)
    found = recover(podinfo(), [*AT_20, INIT], manifests)
    assert found is not None
    assert found.state.run == 3
    assert found.state.traffic == Traffic(80, 20, session_cookie="c=abc")


def test_resume_decision_is_one_warning_naming_the_commit() -> None:
    found = recover(podinfo(), [*AT_20, INIT], facts(20))
    assert found is not None
    decision = recovery_decision(podinfo(), found, "no state on gitbot/state", NOW)
    assert decision.change is None
    assert [(e.type, e.message) for e in decision.events] == [(
        "Warning",
        "State of podinfo.test rebuilt from Git history (no state on gitbot/state) at commit "
        "000000000000 (advance): resuming Progressing at canary weight 20",
    )]
    assert decision.state.events == decision.events
    assert decision.state.phase is Phase.PROGRESSING


def test_unproven_run_decides_a_rollback() -> None:
    found = recover(podinfo(), [*AT_20, INIT], facts(0))
    assert found is not None
    decision = recovery_decision(podinfo(), found, "bad file", NOW)
    assert decision.change is not None
    assert decision.change.action == "rollback" and decision.change.revert
    assert decision.change.traffic == Traffic(100, 0) and decision.change.target_replicas == 0
    assert decision.state.phase is Phase.FAILED
    assert decision.state.step == 10 and decision.state.pending == decision.change
    assert decision.post_rollout == "Failed"
    messages = [e.message for e in decision.events]
    assert messages[0].endswith(
        "cannot resume Progressing: the VirtualService declares canary weight 0, gitbot's "
        "last commit 20; rolling back"
    )
    assert messages[1] == "Canary failed! Scaling down podinfo.test"
