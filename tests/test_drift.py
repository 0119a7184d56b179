"""Drift detection's pure part: the policy table (`assess`), the decisions it leads to
(`drift_decision`, `resumed_decision`: told once, rollback, manual rollback) and the texts
(golden file tests/data/golden/messages/drift.txt)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_decide_common import AB, AFFINITY, BLUE_GREEN, NOW, REV_A, REV_B, podinfo, run_state
from test_decide_flow import Driver

from gitbot.core.drift import (
    ROUTES_UNREADABLE,
    TEMPLATE_EDITED,
    ZERO_REPLICAS,
    Action,
    Declared,
    Drift,
    Expected,
    Field,
    Finding,
    PersonCommit,
    assess,
    commit_missing,
    weights_text,
)
from gitbot.core.drift_decide import drift_decision, resumed_decision
from gitbot.core.drift_messages import (
    drift_chat,
    drift_event,
    resumed_chat,
    resumed_event,
    rollback_reason,
)
from gitbot.core.routes import http_routes, read_traffic
from gitbot.core.spec import Canary, Severity
from gitbot.core.state import Phase, RolloutState, Traffic

GOLDEN = Path(__file__).parent / "data" / "golden" / "messages" / "drift.txt"
P = Phase
T = Traffic
DANA = PersonCommit("1a2b3c4d5e6f7a8b9c0d" * 2, "Dana Developer", "Route traffic by hand")
CANARY = podinfo()


def exp(weight: int = 20, template: str = "t1", own: bool = True) -> Expected:
    return Expected(T(100 - weight, weight), template, own, step=4)


AT_20 = T(80, 20)


def dec(traffic: Traffic | None = AT_20, replicas: int | None = 2,
        template: str = "t1") -> Declared:
    return Declared(traffic, replicas, template)


WEIGHTS_70_30 = Finding(Field.WEIGHTS, weights_text(T(70, 30), T(80, 20)))
WEIGHTS_100_0 = Finding(Field.WEIGHTS, weights_text(T(100, 0), T(80, 20)))
ZERO = Finding(Field.REPLICAS, ZERO_REPLICAS)
MISSING = Finding(Field.COMMIT, commit_missing(4))

CASES = [
    pytest.param(P.PROGRESSING, exp(), dec(), None, id="same-values-no-drift"),
    pytest.param(P.SUCCEEDED, exp(), dec(T(70, 30)), None, id="idle-phase-not-checked"),
    pytest.param(P.INITIALIZED, exp(), dec(replicas=0), None, id="idle-zero-replicas-fine"),
    pytest.param(P.PROGRESSING, exp(own=False), dec(), None,
                 id="own-commit-gone-same-values-no-drift"),
    pytest.param(P.PROGRESSING, exp(), dec(replicas=None), None, id="replicas-unset-fine"),
    pytest.param(P.PROGRESSING, exp(), dec(replicas=5), None, id="replicas-rescaled-fine"),
    pytest.param(P.PROGRESSING, exp(), dec(T(70, 30)),
                 Drift(Action.HALT, (WEIGHTS_70_30,)), id="other-weights-halt"),
    pytest.param(P.WAITING_PROMOTION, exp(), dec(T(100, 0)),
                 Drift(Action.ROLLED_BACK, (WEIGHTS_100_0,)), id="person-100-0-manual-rollback"),
    pytest.param(P.PROGRESSING, exp(), dec(T(80, 20), replicas=0),
                 Drift(Action.ROLLBACK, (ZERO,)), id="zero-replicas-with-traffic-rollback"),
    pytest.param(P.PROGRESSING, exp(0), dec(T(100, 0), replicas=0),
                 Drift(Action.ROLLED_BACK, (ZERO,)), id="zero-replicas-no-traffic-rolled-back"),
    pytest.param(P.PROGRESSING, exp(own=False), dec(T(100, 0), replicas=0),
                 Drift(Action.ROLLED_BACK, (MISSING, WEIGHTS_100_0, ZERO)),
                 id="force-push-before-scale-up-rolled-back"),
    pytest.param(P.PROGRESSING, exp(own=False), dec(T(70, 30), replicas=0),
                 Drift(Action.ROLLBACK, (MISSING, WEIGHTS_70_30, ZERO)),
                 id="force-push-zero-replicas-with-traffic-rollback"),
    pytest.param(P.PROGRESSING, exp(own=False), dec(T(70, 30)),
                 Drift(Action.HALT, (MISSING, WEIGHTS_70_30)), id="force-push-other-weights-halt"),
    pytest.param(P.PROGRESSING, exp(), dec(template="t2"),
                 Drift(Action.HALT, (Finding(Field.TEMPLATE, TEMPLATE_EDITED),)),
                 id="primary-template-edited-halt"),
    pytest.param(P.PROGRESSING, exp(template=""), dec(template="t2"), None,
                 id="template-unknown-not-compared"),
    pytest.param(P.PROGRESSING, exp(), dec(None),
                 Drift(Action.HALT, (Finding(Field.ROUTES, ROUTES_UNREADABLE),)),
                 id="routes-unreadable-halt"),
    pytest.param(P.PROGRESSING, exp(), dec(None, replicas=0),
                 Drift(Action.HALT, (Finding(Field.ROUTES, ROUTES_UNREADABLE), ZERO)),
                 id="routes-unreadable-zero-replicas-halt"),
    pytest.param(P.PROGRESSING, exp(), dec(T(100, 0, mirror=True)),
                 Drift(Action.HALT, (Finding(Field.WEIGHTS,
                                             weights_text(T(100, 0, True), T(80, 20))),)),
                 id="mirroring-by-hand-halt"),
    pytest.param(P.PROGRESSING, exp(0), dec(T(100, 0, mirror=True), replicas=0),
                 Drift(Action.ROLLBACK, (Finding(Field.WEIGHTS,
                                                 weights_text(T(100, 0, True), T(100, 0))),
                                         ZERO)),
                 id="mirror-to-zero-replicas-rollback"),
    pytest.param(P.PROMOTING, exp(50), dec(T(100, 0)), None,
                 id="promoting-person-routes-to-promoted-primary-accepted"),
    pytest.param(P.FINALISING, exp(0), dec(T(100, 0), replicas=0), None,
                 id="finalising-canary-scaled-down-early-accepted"),
    pytest.param(P.PROMOTING, exp(50), dec(T(50, 50), replicas=0),
                 Drift(Action.ROLLBACK, (ZERO,)), id="promoting-zero-replicas-with-traffic"),
    pytest.param(P.PROMOTING, exp(50), dec(T(70, 30)),
                 Drift(Action.HALT, (Finding(Field.WEIGHTS, weights_text(T(70, 30), T(50, 50))),)),
                 id="promoting-other-weights-halt"),
]


@pytest.mark.parametrize(("phase", "expected", "declared", "drift"), CASES)
def test_assess(phase: Phase, expected: Expected, declared: Declared,
                drift: Drift | None) -> None:
    assert assess(phase, expected, declared) == drift


def _halt() -> Drift:
    return Drift(Action.HALT, (WEIGHTS_70_30,), DANA)


def test_halt_is_told_once_and_keeps_the_phase() -> None:
    state = run_state(weight=20)
    first = drift_decision(CANARY, state, _halt(), T(70, 30), NOW)
    assert first.change is None
    assert first.state.phase is Phase.PROGRESSING
    assert first.state.traffic == T(80, 20)
    assert [(e.type, e.message) for e in first.events] == [
        ("Warning", drift_event(CANARY, _halt()))]
    assert [(a.severity, a.message) for a in first.alerts] == [
        (Severity.WARN, drift_chat(CANARY, _halt()))]
    assert first.state.drift == drift_event(CANARY, _halt())
    again = drift_decision(CANARY, first.state, _halt(), T(70, 30), NOW)
    assert (again.events, again.alerts, again.change) == ((), (), None)
    assert again.state == first.state
    assert "still halted" in again.log


def test_a_different_drift_while_halted_is_told() -> None:
    halted = drift_decision(CANARY, run_state(weight=20), _halt(), T(70, 30), NOW).state
    other = Drift(Action.HALT, (Finding(Field.TEMPLATE, TEMPLATE_EDITED),), DANA)
    decision = drift_decision(CANARY, halted, other, T(80, 20), NOW)
    assert [e.message for e in decision.events] == [drift_event(CANARY, other)]


def test_manual_rollback_ends_the_run_without_a_commit() -> None:
    drift = Drift(Action.ROLLED_BACK, (WEIGHTS_100_0,), DANA)
    decision = drift_decision(CANARY, run_state(weight=20, drift="old"), drift, T(100, 0), NOW)
    assert decision.change is None
    assert decision.state.phase is Phase.FAILED
    assert decision.state.traffic == T(100, 0)
    assert decision.state.drift == ""
    assert decision.post_rollout == "Failed"
    assert [e.message for e in decision.events] == [drift_event(CANARY, drift)]
    assert decision.events[0].message.startswith("Rolling back podinfo.test manual change: ")


def test_zero_replicas_with_traffic_rolls_back() -> None:
    drift = Drift(Action.ROLLBACK, (ZERO,), DANA)
    decision = drift_decision(CANARY, run_state(weight=20), drift, T(80, 20), NOW)
    change = decision.change
    assert change is not None
    assert (change.action, change.revert, change.target_replicas) == ("rollback", True, 0)
    assert change.traffic == T(100, 0)
    assert decision.state.phase is Phase.FAILED
    assert decision.state.pending == change
    assert [e.message for e in decision.events] == [
        drift_event(CANARY, drift), "Canary failed! Scaling down podinfo.test"]
    assert decision.alerts[0].severity is Severity.ERROR


def test_resume_is_told_once() -> None:
    halted = run_state(weight=20, drift="Halt podinfo.test advancement: ...")
    decision = resumed_decision(CANARY, halted, NOW)
    assert decision is not None
    assert decision.change is None
    assert decision.state.drift == ""
    assert decision.state.phase is Phase.PROGRESSING
    assert [e.message for e in decision.events] == [resumed_event(CANARY)]
    assert [a.message for a in decision.alerts] == [resumed_chat(CANARY)]
    assert resumed_decision(CANARY, decision.state, NOW) is None
    assert resumed_decision(CANARY, RolloutState(), NOW) is None


def test_texts_golden() -> None:
    missing = Drift(Action.ROLLED_BACK, (MISSING, WEIGHTS_100_0, ZERO), DANA)
    rollback = Drift(Action.ROLLBACK, (ZERO,), DANA)
    unknown = Drift(Action.HALT, (Finding(Field.ROUTES, ROUTES_UNREADABLE),), None)
    parts = []
    for name, drift in (("halt", _halt()), ("force-push", missing),
                        ("rollback", rollback), ("unknown-commit", unknown)):
        parts += [f"== {name} event", drift_event(CANARY, drift),
                  f"== {name} chat", drift_chat(CANARY, drift)]
    parts += ["== resumed event", resumed_event(CANARY), "== resumed chat", resumed_chat(CANARY),
              "== rollback reason", rollback_reason(rollback),
              "== rollback reason, unknown commit", rollback_reason(Drift(Action.ROLLBACK, ()))]
    text = "\n".join(parts) + "\n"
    if os.environ.get("GITBOT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.read_text(encoding="utf-8") == text


def test_chat_names_short_sha_author_subject_and_what_gitbot_did() -> None:
    chat = drift_chat(CANARY, _halt())
    assert 'Commit 1a2b3c4d5e6f "Route traffic by hand" by Dana Developer' in chat
    assert "gitbot halted the rollout" in chat


@pytest.mark.parametrize("canary", [
    pytest.param(podinfo(), id="canary"),
    pytest.param(podinfo(step_weight_promotion=20), id="step-weight-promotion"),
    pytest.param(podinfo(mirror=True, max_weight=20), id="mirror"),
    pytest.param(BLUE_GREEN, id="blue-green"),
    pytest.param(AB, id="ab"),
    pytest.param(AFFINITY, id="session-affinity"),
])
def test_gitbots_own_routes_never_look_like_drift(canary: Canary) -> None:
    """Every state of a whole run, written as routes and read back, matches gitbot's state."""
    driver = Driver(canary)
    driver.tick(REV_A)
    driver.run_until(REV_B, {Phase.SUCCEEDED})
    for decision in driver.decisions:
        state = decision.state
        declared = read_traffic(canary, http_routes(canary, state.traffic))
        replicas = 0 if state.phase is Phase.SUCCEEDED else 2
        assert assess(state.phase, Expected(state.traffic), Declared(declared, replicas)) is None
