"""Named table tests for `decide` outside a run: init, new revisions, confirm-rollout, suspend,
cluster sync, and the Waiting phase."""

from __future__ import annotations

import pytest
from test_decide_common import (
    REV_A,
    REV_B,
    REV_C,
    Expect,
    N,
    W,
    check,
    hooks,
    idle_state,
    observe,
    ok,
    podinfo,
    refused,
    run_decide,
    run_state,
    with_canary,
)

from gitbot.core.spec import Canary, Severity, WebhookType
from gitbot.core.state import Event, Observation, Phase, RolloutState

CR = WebhookType.CONFIRM_ROLLOUT
NEW_REV = "New revision detected! Scaling up podinfo.test"
RUN_ALERT = (Severity.INFO, "New revision detected, progressing canary analysis.")
SUSPENDED = "skipping canary run as object is suspended"

CASES = [
    pytest.param(
        podinfo(),
        RolloutState(),
        Observation(target_revision=REV_A, bootstrapped=False),
        Expect(
            Phase.INITIALIZED,
            action="initialize",
            subject="initialize: generate primary, services and routing, scale podinfo to 0",
            events=(N("Initialization done! podinfo.test"),),
            alerts=((Severity.INFO, "New Deployment detected, initialization completed."),),
            traffic=(100, 0),
        ),
        id="init-generates-routing-and-scales-target-to-zero",
    ),
    pytest.param(
        podinfo(),
        RolloutState(),
        Observation(target_revision=REV_A, bootstrapped=True),
        Expect(Phase.INITIALIZED, events=(N("Initialization done! podinfo.test"),), alerts=()),
        id="init-when-already-bootstrapped-makes-no-change",
    ),
    pytest.param(
        podinfo(),
        RolloutState(),
        Observation(target_revision="", bootstrapped=False),
        Expect(Phase.INITIALIZING, events=()),
        id="init-without-target-waits",
    ),
    pytest.param(
        podinfo(),
        idle_state(),
        observe(REV_C, scale_up_replicas=2),
        Expect(
            Phase.PROGRESSING,
            action="scale-up",
            subject="scale up canary",
            events=(N(NEW_REV),),
            alerts=(RUN_ALERT,),
            failed_checks=0,
            traffic=(100, 0),
            iterations=0,
        ),
        id="new-revision-scales-up",
    ),
    pytest.param(
        podinfo(),
        idle_state(Phase.INITIALIZED),
        observe(REV_C, hooks=hooks(ok(CR))),
        Expect(Phase.PROGRESSING, action="scale-up", events=(N(NEW_REV),), alerts=(RUN_ALERT,)),
        id="confirm-rollout-approved-starts-run",
    ),
    pytest.param(
        podinfo(),
        idle_state(),
        observe(REV_C, hooks=hooks(refused(CR))),
        Expect(
            Phase.WAITING,
            events=(W("Halt podinfo.test advancement waiting for approval gate"),),
            alerts=((Severity.WARN, "Canary is waiting for approval."),),
        ),
        id="confirm-rollout-refused-enters-waiting",
    ),
    pytest.param(
        podinfo(),
        idle_state(Phase.WAITING),
        observe(REV_C, hooks=hooks(refused(CR))),
        Expect(Phase.WAITING, events=(), alerts=()),
        id="confirm-rollout-refused-again-is-silent",
    ),
    pytest.param(
        podinfo(),
        idle_state(Phase.WAITING),
        observe(REV_C, hooks=hooks(ok(CR))),
        Expect(
            Phase.PROGRESSING,
            action="scale-up",
            events=(N("Confirm-rollout check gate passed"), N(NEW_REV)),
            alerts=(RUN_ALERT,),
        ),
        id="waiting-then-approved-starts-run",
    ),
    pytest.param(
        podinfo(),
        idle_state(Phase.WAITING),
        observe(REV_C, hooks=hooks(ok(WebhookType.ROLLBACK, "rb"), refused(CR))),
        Expect(
            Phase.FAILED,
            events=(
                W("Rollback check rb passed"),
                W("Rolling back podinfo.test manual webhook invoked"),
                W("Canary failed! Scaling down podinfo.test"),
            ),
            alerts=((Severity.WARN, "Rolling back manual webhook invoked"),),
            post_rollout="Failed",
        ),
        id="rollback-hook-cancels-waiting-run",
    ),
    pytest.param(
        podinfo(),
        run_state(Phase.FAILED, last_applied_spec=REV_C, last_promoted_spec=REV_A),
        observe(REV_A),
        Expect(Phase.FAILED, events=()),
        id="return-to-promoted-spec-starts-nothing",
    ),
    pytest.param(
        podinfo(),
        run_state(Phase.FAILED, last_applied_spec=REV_B),
        observe(REV_B),
        Expect(Phase.FAILED, events=()),
        id="rejected-revision-is-not-retried",
    ),
    pytest.param(
        with_canary(podinfo(), suspend=True),
        run_state(Phase.PROGRESSING, 20),
        observe(REV_C, metrics=()),
        Expect(Phase.PROGRESSING, events=(N(SUSPENDED),), traffic=(80, 20)),
        id="suspend-emits-event-and-freezes",
    ),
    pytest.param(
        with_canary(podinfo(), suspend=True),
        run_state(Phase.PROGRESSING, 20, events=(Event("t", "Normal", SUSPENDED),)),
        observe(REV_C),
        Expect(Phase.PROGRESSING, events=()),
        id="suspend-event-is-not-repeated",
    ),
    pytest.param(
        podinfo(),
        run_state(Phase.PROGRESSING, 20, failed_checks=4),
        observe(REV_C, cluster_synced=False),
        Expect(Phase.PROGRESSING, events=(), failed_checks=4, traffic=(80, 20)),
        id="cluster-not-synced-counts-nothing",
    ),
    pytest.param(
        podinfo(),
        idle_state(),
        observe(REV_C, cluster_synced=False),
        Expect(Phase.SUCCEEDED, events=()),
        id="cluster-not-synced-starts-no-run",
    ),
]


@pytest.mark.parametrize(("canary", "state", "obs", "expect"), CASES)
def test_decide_outside_a_run(
    canary: Canary, state: RolloutState, obs: Observation, expect: Expect
) -> None:
    decision = run_decide(canary, state, obs)
    check(decision, state, expect)


def test_init_marks_initial_version_promoted() -> None:
    decision = run_decide(podinfo(), RolloutState(), Observation(REV_A, bootstrapped=False))
    change = decision.change
    assert change is not None and change.bootstrap and change.target_replicas == 0
    assert decision.state.last_promoted_spec == decision.state.last_applied_spec == REV_A
    assert decision.alerts[0].with_metadata


def test_new_revision_sets_run_identity() -> None:
    old = idle_state(run=1)
    decision = run_decide(podinfo(), old, observe(REV_C, scale_up_replicas=3))
    state = decision.state
    assert (state.run, state.rollout_id, state.last_applied_spec) == (2, "cccccccccccc-2", REV_C)
    assert decision.change is not None and decision.change.target_replicas == 3
    assert decision.alerts[0].with_metadata


def test_return_to_promoted_spec_records_it() -> None:
    old = run_state(Phase.FAILED, last_applied_spec=REV_C, last_promoted_spec=REV_A)
    decision = run_decide(podinfo(), old, observe(REV_A))
    assert decision.state.last_applied_spec == REV_A and decision.change is None


def test_muted_confirm_rollout_sends_no_alert() -> None:
    canary = podinfo()
    muted = tuple(
        h.__class__(h.name, h.url, h.type, mute_alert=True) if h.type is CR else h
        for h in canary.analysis.webhooks
    )
    canary = with_canary(canary, analysis=canary.analysis.__class__(webhooks=muted))
    decision = run_decide(canary, idle_state(), observe(REV_C, hooks=hooks(refused(CR))))
    assert decision.state.phase is Phase.WAITING and decision.alerts == ()


def test_cluster_not_synced_explains_itself() -> None:
    decision = run_decide(podinfo(), run_state(), observe(cluster_synced=False))
    assert "not counted" in decision.log
    assert decision.state == run_state()


def test_waiting_revision_withdrawn_returns_to_succeeded() -> None:
    old = idle_state(Phase.WAITING)
    decision = run_decide(podinfo(), old, observe(REV_B, hooks=hooks(refused(CR))))
    assert decision.state.phase is Phase.SUCCEEDED and decision.change is None
    assert decision.state.last_applied_spec == REV_B
