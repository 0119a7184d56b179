"""Whole runs driven through `plan_tick` and `decide` like the reconciler does, and `plan_tick`'s
table; plus a check that `decide` never reads a hook type the plan did not ask for."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from test_decide_common import (
    AB,
    BLUE_GREEN,
    NOW,
    REV_A,
    REV_B,
    REV_C,
    idle_state,
    podinfo,
    run_state,
)

from gitbot.core.analysis import evaluate_metric
from gitbot.core.decide import decide
from gitbot.core.plan import TickPlan, plan_tick
from gitbot.core.spec import Canary, WebhookType
from gitbot.core.state import (
    Decision,
    HookResult,
    MetricResult,
    Observation,
    Phase,
    RolloutState,
    Traffic,
)

ALL_TYPES = tuple(WebhookType)


@dataclass
class Driver:
    """A reconciler stand-in: plan, call the planned hooks, query metrics, decide, land."""

    canary: Canary
    success_rate: float = 99.9
    state: RolloutState = field(default_factory=RolloutState)
    tick_no: int = 0
    subjects: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def tick(self, revision: str) -> Decision:
        bootstrapped = self.state.phase is not Phase.INITIALIZING
        plan = plan_tick(self.canary, self.state, revision, bootstrapped)
        obs = Observation(
            target_revision=revision,
            bootstrapped=bootstrapped,
            metrics=self._metrics() if plan.metrics else (),
            hooks={k: _pass_all(self.canary, k) for k in plan.hooks},
        )
        decision = decide(self.canary, self.state, obs, NOW + timedelta(minutes=self.tick_no))
        check_plan_is_sufficient(self.canary, self.state, obs, plan, decision)
        self.tick_no += 1
        self.decisions.append(decision)
        if decision.change is not None:
            self.subjects.append(decision.change.subject)
        self.state = replace(decision.state, pending=None)  # the commit landed
        return decision

    def _metrics(self) -> tuple[MetricResult, ...]:
        values = {"request-success-rate": self.success_rate, "request-duration": 120.0}
        return tuple(
            evaluate_metric(self.canary, m, values[m.name], None)
            for m in self.canary.analysis.metrics
        )

    def run_until(self, revision: str, phases: set[Phase], limit: int = 40) -> None:
        for _ in range(limit):
            self.tick(revision)
            if self.state.phase in phases:
                return
        raise AssertionError(f"stuck in {self.state.phase}")

    def events(self, since: int = 0) -> list[str]:
        return [e.message for d in self.decisions[since:] for e in d.events]


def _pass_all(canary: Canary, kind: WebhookType) -> tuple[HookResult, ...]:
    """Every gate approves; rollback hooks answer 403 ("no rollback")."""
    passed = kind is not WebhookType.ROLLBACK
    status = 200 if passed else 403
    return tuple(HookResult(h.name, kind, passed, status) for h in canary.analysis.hooks(kind))


def check_plan_is_sufficient(
    canary: Canary, state: RolloutState, obs: Observation, plan: TickPlan, decision: Decision
) -> None:
    """Answers from configured hook types outside the plan must not change the decision.

    Each unplanned type answers the disruptive way: a gate refuses, a rollback hook says yes.
    """
    extra = {
        k: (HookResult("intruder", k, k is WebhookType.ROLLBACK, 403),)
        for k in ALL_TYPES
        if k not in plan.hooks and canary.analysis.hooks(k)
    }
    noisy = decide(canary, state, replace(obs, hooks={**obs.hooks, **extra}), NOW)
    quiet = decide(canary, state, obs, NOW)
    assert (noisy.change, noisy.state.phase) == (quiet.change, quiet.state.phase)


def test_success_run_commits_each_step() -> None:
    driver = Driver(podinfo())
    first = driver.tick(REV_A)
    assert first.state.phase is Phase.INITIALIZED
    start = len(driver.subjects)
    driver.run_until(REV_B, {Phase.SUCCEEDED, Phase.FAILED})
    assert driver.state.phase is Phase.SUCCEEDED
    assert driver.subjects[start:] == [
        "scale up canary",
        "advance canary weight 10",
        "advance canary weight 20",
        "advance canary weight 30",
        "advance canary weight 40",
        "advance canary weight 50",
        "promote: copy podinfo template spec to podinfo-primary",
        "route all traffic to primary",
        "scale down canary",
    ]
    assert driver.state.last_promoted_spec == REV_B
    assert driver.state.step == len(driver.subjects)
    assert driver.decisions[-1].post_rollout == "Succeeded"


def test_failing_run_rolls_back_after_five_failed_checks() -> None:
    driver = Driver(podinfo(), success_rate=70.0)
    driver.tick(REV_A)
    driver.run_until(REV_B, {Phase.SUCCEEDED, Phase.FAILED})
    assert driver.state.phase is Phase.FAILED
    halt = "Halt podinfo.test advancement success rate 70.00% < 99%"
    assert driver.events(1) == [
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Pre-rollout check acceptance-test passed",
        "Advance podinfo.test canary weight 10",
        halt,
        halt,
        halt,
        halt,
        halt,
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert driver.subjects[-1] == "rollback (failed checks threshold reached 5)"
    assert driver.state.failed_checks == 5 and driver.state.canary_weight == 0
    driver.tick(REV_B)  # the rejected revision is not retried
    assert driver.state.phase is Phase.FAILED and driver.decisions[-1].change is None


@pytest.mark.parametrize(
    ("canary", "expected"),
    [
        pytest.param(BLUE_GREEN, ["scale up canary", "route all traffic to canary",
                                  "promote: copy podinfo template spec to podinfo-primary",
                                  "route all traffic to primary", "scale down canary"],
                     id="blue-green-run"),
        pytest.param(AB, ["scale up canary", "route matched requests to canary",
                          "promote: copy podinfo template spec to podinfo-primary",
                          "route all traffic to primary", "scale down canary"],
                     id="ab-run"),
        pytest.param(podinfo(mirror=True, max_weight=20), [
            "scale up canary", "mirror traffic to canary", "advance canary weight 10",
            "advance canary weight 20", "promote: copy podinfo template spec to podinfo-primary",
            "route all traffic to primary", "scale down canary"], id="mirror-run"),
    ],
)
def test_other_strategies_run_to_success(canary: Canary, expected: list[str]) -> None:
    driver = Driver(canary)
    driver.tick(REV_A)
    start = len(driver.subjects)
    driver.run_until(REV_B, {Phase.SUCCEEDED, Phase.FAILED})
    assert driver.state.phase is Phase.SUCCEEDED
    assert driver.subjects[start:] == expected


CR, PRE, RO = WebhookType.CONFIRM_ROLLOUT, WebhookType.PRE_ROLLOUT, WebhookType.ROLLOUT
RB, CTI = WebhookType.ROLLBACK, WebhookType.CONFIRM_TRAFFIC_INCREASE
CP = WebhookType.CONFIRM_PROMOTION
ALL_HOOKS = podinfo(webhooks=tuple(
    replace(podinfo().analysis.webhooks[0], name=k.value, type=k) for k in WebhookType))

PLANS = [
    pytest.param(ALL_HOOKS, RolloutState(), REV_A, TickPlan(), id="initializing-calls-nothing"),
    pytest.param(ALL_HOOKS, idle_state(), REV_B, TickPlan(), id="same-revision-calls-nothing"),
    pytest.param(ALL_HOOKS, idle_state(), REV_C, TickPlan((CR,)), id="new-revision-confirm"),
    pytest.param(ALL_HOOKS, idle_state(Phase.WAITING), REV_C, TickPlan((RB, CR)),
                 id="waiting-asks-again"),
    pytest.param(ALL_HOOKS, run_state(), REV_B, TickPlan((RB, PRE, CTI)),
                 id="first-tick-pre-rollout"),
    pytest.param(ALL_HOOKS, run_state(weight=10), REV_B, TickPlan((RB, RO, CTI), True),
                 id="analysis-tick"),
    pytest.param(ALL_HOOKS, run_state(weight=50), REV_B, TickPlan((RB, RO, CP), True),
                 id="max-weight-confirm-promotion"),
    pytest.param(ALL_HOOKS, run_state(Phase.WAITING_PROMOTION, 50), REV_B,
                 TickPlan((RB, RO, CP), True), id="waiting-promotion"),
    pytest.param(ALL_HOOKS, run_state(weight=10, failed_checks=5), REV_B, TickPlan((RB,)),
                 id="threshold-reached"),
    pytest.param(ALL_HOOKS, run_state(weight=10), REV_C, TickPlan(), id="restart-tick"),
    pytest.param(ALL_HOOKS, run_state(Phase.PROMOTING, 50), REV_B, TickPlan(), id="promoting"),
    pytest.param(podinfo(), run_state(weight=10), REV_B, TickPlan((RO,), True),
                 id="only-configured-types"),
    pytest.param(podinfo(mirror=True, webhooks=ALL_HOOKS.analysis.webhooks),
                 run_state(traffic=Traffic(100, 0, True)), REV_B, TickPlan((RB, RO, CTI), True),
                 id="mirror-to-first-weight-is-gated"),
]


@pytest.mark.parametrize(("canary", "state", "revision", "expected"), PLANS)
def test_plan_tick(canary: Canary, state: RolloutState, revision: str, expected: TickPlan) -> None:
    assert plan_tick(canary, state, revision, True) == expected


def test_plan_tick_skips_everything_on_held_ticks() -> None:
    state = run_state(weight=10)
    assert plan_tick(ALL_HOOKS, state, REV_B, True, cluster_synced=False) == TickPlan()
    assert plan_tick(ALL_HOOKS, state, REV_B, True, canary_ready=False) == TickPlan()
    assert plan_tick(ALL_HOOKS, state, REV_B, True, primary_ready=False) == TickPlan()
    suspended = replace(ALL_HOOKS, suspend=True)
    assert plan_tick(suspended, state, REV_B, True) == TickPlan()


@pytest.mark.parametrize(
    "canary",
    [
        pytest.param(ALL_HOOKS, id="canary"),
        pytest.param(replace(BLUE_GREEN, analysis=replace(
            BLUE_GREEN.analysis, webhooks=ALL_HOOKS.analysis.webhooks)), id="blue-green"),
        pytest.param(replace(AB, analysis=replace(
            AB.analysis, webhooks=ALL_HOOKS.analysis.webhooks)), id="ab"),
    ],
)
def test_plan_covers_every_hook_decide_reads(canary: Canary) -> None:
    """With a hook of every type, a whole run never depends on an unplanned hook."""
    driver = Driver(canary)
    driver.tick(REV_A)
    driver.run_until(REV_B, {Phase.SUCCEEDED, Phase.FAILED})
    assert driver.state.phase is Phase.SUCCEEDED
    assert driver.decisions[-1].post_rollout == "Succeeded"
