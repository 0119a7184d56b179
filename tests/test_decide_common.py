"""Shared builders for the decide tests, plus tests of the tick helpers (time, cookies, ids).

The other `test_decide_*` modules import the builders from here: a podinfo Canary like the one in
Flagger's docs (maxWeight 50, stepWeight 10, threshold 5), rollout states, observations and
hook results, and `check`, which asserts a decision against an `Expect` and the invariants every
decision must keep.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from gitbot.core.decide import decide
from gitbot.core.decide_tick import cookie_value, rfc3339, rollout_id, seconds_since
from gitbot.core.spec import (
    Analysis,
    Canary,
    Metric,
    ObjectRef,
    ServiceSpec,
    SessionAffinity,
    Severity,
    ThresholdRange,
    Webhook,
    WebhookType,
)
from gitbot.core.state import (
    Decision,
    HookResult,
    MetricResult,
    Observation,
    Phase,
    Readiness,
    RolloutState,
    Traffic,
)
from gitbot.core.state_json import state_from_json, state_to_json

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
STAMP = "2026-11-22T10:00:00Z"
REV_A = "a" * 40  # what the primary runs
REV_B = "b" * 40  # the revision under analysis
REV_C = "c" * 40  # a newer revision
RUN_ID = rollout_id(REV_B, 1)

METRICS = (
    Metric("request-success-rate", threshold_range=ThresholdRange(min=99)),
    Metric("request-duration", threshold_range=ThresholdRange(max=500)),
)
HOOKS = (
    Webhook("gate", "http://loadtester/gate/check", type=WebhookType.CONFIRM_ROLLOUT),
    Webhook("acceptance-test", "http://loadtester/", type=WebhookType.PRE_ROLLOUT),
    Webhook("load-test", "http://loadtester/", type=WebhookType.ROLLOUT),
)


def podinfo(**analysis: Any) -> Canary:
    """Flagger's podinfo example: maxWeight 50, stepWeight 10, threshold 5, two metrics."""
    fields: dict[str, Any] = {
        "interval_seconds": 60,
        "threshold": 5,
        "max_weight": 50,
        "step_weight": 10,
        "metrics": METRICS,
        "webhooks": HOOKS,
    }
    fields.update(analysis)
    return Canary(
        name="podinfo",
        namespace="test",
        target=ObjectRef("podinfo", "Deployment", "apps/v1"),
        service=ServiceSpec(port=9898),
        analysis=Analysis(**fields),
    )


def with_canary(canary: Canary, **changes: Any) -> Canary:
    return replace(canary, **changes)


BLUE_GREEN = podinfo(iterations=10, max_weight=100, step_weight=0)
AB = podinfo(iterations=5, max_weight=100, step_weight=0, match=({"headers": {"x": "1"}},))
AFFINITY = podinfo(session_affinity=SessionAffinity(cookie_name="canary-flagger-cookie"))


def run_state(phase: Phase = Phase.PROGRESSING, weight: int = 0, **changes: Any) -> RolloutState:
    """A state in the middle of run 1 of REV_B (primary on REV_A)."""
    base = RolloutState(
        phase=phase,
        traffic=Traffic(100 - weight, weight),
        last_applied_spec=REV_B,
        last_promoted_spec=REV_A,
        rollout_id=RUN_ID,
        run=1,
        step=3,
        last_transition_time="2026-11-22T09:59:00Z",
    )
    return replace(base, **changes)


def idle_state(phase: Phase = Phase.SUCCEEDED, **changes: Any) -> RolloutState:
    """A finished run: primary and target both on REV_B."""
    return run_state(phase, 0, last_promoted_spec=REV_B, **changes)


def hooks(*results: HookResult) -> dict[WebhookType, tuple[HookResult, ...]]:
    grouped: dict[WebhookType, tuple[HookResult, ...]] = {}
    for result in results:
        grouped[result.type] = (*grouped.get(result.type, ()), result)
    return grouped


def ok(kind: WebhookType, name: str = "gate") -> HookResult:
    return HookResult(name, kind, True, 200, "")


def refused(kind: WebhookType, name: str = "gate", message: str = "403 Forbidden") -> HookResult:
    return HookResult(name, kind, False, 403, message)


def passing() -> tuple[MetricResult, ...]:
    return (
        MetricResult("request-success-rate", 99.9, True, "request-success-rate 99.90 passed"),
        MetricResult("request-duration", 120.0, True, "request-duration 120.00 passed"),
    )


SR_BREACH = "Halt podinfo.test advancement success rate 69.17% < 99%"


def breach(message: str = SR_BREACH) -> tuple[MetricResult, ...]:
    return (MetricResult("request-success-rate", 69.17, False, message), passing()[1])


def observe(revision: str = REV_B, **changes: Any) -> Observation:
    fields: dict[str, Any] = {"target_revision": revision, "bootstrapped": True}
    fields.update(changes)
    return Observation(**fields)


def not_ready(message: str = "canary deployment podinfo.test not ready") -> Readiness:
    return Readiness(ready=False, message=message)


@dataclass(frozen=True)
class Expect:
    """What a decision must show; None fields are not checked."""

    phase: Phase
    action: str | None = None
    subject: str | None = None
    events: tuple[tuple[str, str], ...] | None = None
    alerts: tuple[tuple[Severity, str], ...] | None = None
    failed_checks: int | None = None
    traffic: tuple[int, int] | None = None
    iterations: int | None = None
    post_rollout: str = ""


def N(message: str) -> tuple[str, str]:
    return ("Normal", message)


def W(message: str) -> tuple[str, str]:
    return ("Warning", message)


def run_decide(canary: Canary, state: RolloutState, obs: Observation) -> Decision:
    return decide(canary, state, obs, NOW)


def check(decision: Decision, old: RolloutState, expect: Expect) -> None:
    """Assert `expect` and the invariants of every decision."""
    state = decision.state
    assert state.phase is expect.phase
    assert (decision.change.action if decision.change else None) == expect.action
    if expect.subject is not None:
        assert decision.change is not None and decision.change.subject == expect.subject
    if expect.events is not None:
        assert [(e.type, e.message) for e in decision.events] == list(expect.events)
    if expect.alerts is not None:
        assert [(a.severity, a.message) for a in decision.alerts] == list(expect.alerts)
    if expect.failed_checks is not None:
        assert state.failed_checks == expect.failed_checks
    if expect.traffic is not None:
        assert (state.traffic.primary_weight, state.traffic.canary_weight) == expect.traffic
    if expect.iterations is not None:
        assert state.iterations == expect.iterations
    assert decision.post_rollout == expect.post_rollout
    check_invariants(decision, old)


def check_invariants(decision: Decision, old: RolloutState) -> None:
    state = decision.state
    assert state.events[len(state.events) - len(decision.events) :] == decision.events
    assert all(e.time == STAMP for e in decision.events)
    if decision.change is not None:
        assert state.step == old.step + 1 and state.pending == decision.change
        assert state.last_transition_time == STAMP
    else:
        assert state.step == old.step and state.pending == old.pending


# --- tests of the tick helpers -------------------------------------------------------------


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(NOW) == STAMP
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


def test_seconds_since_reads_rfc3339() -> None:
    assert seconds_since("2026-11-22T09:50:00Z", NOW) == 600.0
    assert seconds_since("", NOW) == 0.0


def test_cookie_value_is_ten_letters_stable_per_rollout() -> None:
    value = cookie_value(RUN_ID)
    assert len(value) == 10 and value.isalpha() and value.isascii()
    assert cookie_value(RUN_ID) == value
    assert cookie_value(rollout_id(REV_B, 2)) != value


def test_rollout_id_is_revision_prefix_and_run() -> None:
    assert RUN_ID == "bbbbbbbbbbbb-1"


def test_unchanged_state_keeps_transition_time() -> None:
    old = idle_state()
    decision = run_decide(podinfo(), old, observe(REV_B))
    assert decision.change is None and decision.events == ()
    assert decision.state == old


@pytest.mark.parametrize(
    "phase", [pytest.param(p, id=p.value) for p in (Phase.PROGRESSING, Phase.PROMOTING)]
)
def test_state_survives_json_round_trip_after_decide(phase: Phase) -> None:
    old = run_state(phase, 50, failed_checks=1)
    decision = run_decide(podinfo(), old, observe(metrics=passing()))
    assert state_from_json(state_to_json(decision.state)) == decision.state
