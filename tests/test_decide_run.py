"""Named table tests for `decide` during a run: analysis, gates, rollback, readiness, promotion,
and the canary, blue/green, A/B, mirroring and session-affinity steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_decide_common import (
    AB,
    AFFINITY,
    BLUE_GREEN,
    NOW,
    REV_B,
    REV_C,
    RUN_ID,
    SR_BREACH,
    Expect,
    N,
    W,
    breach,
    check,
    hooks,
    observe,
    ok,
    passing,
    podinfo,
    refused,
    run_decide,
    run_state,
    with_canary,
)

from gitbot.core.decide_tick import cookie_value, rfc3339
from gitbot.core.spec import Canary, SessionAffinity, Severity, WebhookType
from gitbot.core.state import MetricResult, Observation, Phase, Readiness, RolloutState, Traffic

PRE = WebhookType.PRE_ROLLOUT
CTI = WebhookType.CONFIRM_TRAFFIC_INCREASE
CP = WebhookType.CONFIRM_PROMOTION
START = N("Starting canary analysis for podinfo.test")
FAILED = W("Canary failed! Scaling down podinfo.test")
NOT_READY = "canary deployment podinfo.test not ready: waiting for rollout to finish"
PRIMARY_NOT_READY = "deployment \"podinfo-primary\" exceeded its progress deadline"
LONG_AGO = rfc3339(NOW - timedelta(minutes=11))
NO_DATA = (
    "Halt advancement no values found for istio metric request-success-rate "
    "probably podinfo.test is not receiving traffic: no values found"
)
COPYING = N("Copying podinfo.test template spec to podinfo-primary.test")
MIRROR = podinfo(mirror=True)
BG_MIRROR = podinfo(iterations=10, max_weight=100, step_weight=0, mirror=True)
STEPS = podinfo(step_weight=0, step_weights=(1, 5, 10, 25))
SWP = podinfo(step_weight_promotion=30)
SKIP = with_canary(podinfo(), skip_analysis=True)


CASES = [
    pytest.param(
        podinfo(), run_state(), observe(hooks=hooks(ok(PRE, "acceptance-test"))),
        Expect(Phase.PROGRESSING, "advance", "advance canary weight 10",
               events=(START, N("Pre-rollout check acceptance-test passed"),
                       N("Advance podinfo.test canary weight 10")),
               traffic=(90, 10)),
        id="pre-rollout-pass-advances-to-first-step",
    ),
    pytest.param(
        podinfo(), run_state(), observe(hooks=hooks(refused(PRE, "acceptance-test", "500 boom"))),
        Expect(Phase.PROGRESSING, events=(
            START, W("Halt podinfo.test advancement pre-rollout check acceptance-test failed "
                     "500 boom")), failed_checks=1, traffic=(100, 0)),
        id="pre-rollout-fail-counts-a-failed-check",
    ),
    pytest.param(
        podinfo(), run_state(weight=10), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, "advance", "advance canary weight 20",
               events=(N("Advance podinfo.test canary weight 20"),), traffic=(80, 20)),
        id="advance-on-passing-analysis",
    ),
    pytest.param(
        podinfo(), run_state(weight=20, failed_checks=1), observe(metrics=breach()),
        Expect(Phase.PROGRESSING, events=(W(SR_BREACH),), alerts=(), failed_checks=2,
               traffic=(80, 20)),
        id="halt-on-metric-breach",
    ),
    pytest.param(
        podinfo(), run_state(weight=20), observe(metrics=(
            MetricResult("request-success-rate", 69.17, False, SR_BREACH),
            MetricResult("request-duration", 512.0, False,
                         "Halt podinfo.test advancement request duration 512ms > 500ms"))),
        Expect(Phase.PROGRESSING, events=(
            W(SR_BREACH), W("Halt podinfo.test advancement request duration 512ms > 500ms")),
            failed_checks=1),
        id="every-failing-metric-reported-counted-once",
    ),
    pytest.param(
        podinfo(), run_state(weight=10), observe(metrics=breach(NO_DATA)),
        Expect(Phase.PROGRESSING, events=(W(NO_DATA),), failed_checks=1),
        id="halt-on-no-data",
    ),
    pytest.param(
        podinfo(), run_state(weight=10), observe(
            metrics=passing(),
            hooks=hooks(refused(WebhookType.ROLLOUT, "load-test", "503 unavailable"))),
        Expect(Phase.PROGRESSING, events=(
            W("Halt podinfo.test advancement external check load-test failed 503 unavailable"),),
            failed_checks=1),
        id="halt-on-rollout-hook-failure",
    ),
    pytest.param(
        podinfo(), run_state(weight=20, failed_checks=4), observe(metrics=breach()),
        Expect(Phase.FAILED, "rollback", "rollback (failed checks threshold reached 5)",
               events=(W(SR_BREACH),
                       W("Rolling back podinfo.test failed checks threshold reached 5"), FAILED),
               alerts=((Severity.ERROR, "Failed checks threshold reached 5"),),
               failed_checks=5, traffic=(100, 0), post_rollout="Failed"),
        id="breach-at-threshold-rolls-back",
    ),
    pytest.param(
        podinfo(), run_state(weight=20, failed_checks=5), observe(metrics=passing()),
        Expect(Phase.FAILED, "rollback",
               events=(W("Rolling back podinfo.test failed checks threshold reached 5"), FAILED),
               post_rollout="Failed"),
        id="threshold-already-reached-rolls-back",
    ),
    pytest.param(
        podinfo(), run_state(weight=30), observe(
            metrics=passing(), hooks=hooks(ok(WebhookType.ROLLBACK, "rb"))),
        Expect(Phase.FAILED, "rollback", "rollback (manual webhook invoked)",
               events=(W("Rollback check rb passed"),
                       W("Rolling back podinfo.test manual webhook invoked"), FAILED),
               alerts=((Severity.WARN, "Rolling back manual webhook invoked"),),
               traffic=(100, 0), post_rollout="Failed"),
        id="rollback-hook-rolls-back",
    ),
    pytest.param(
        podinfo(), run_state(weight=30), observe(
            metrics=passing(), hooks=hooks(refused(WebhookType.ROLLBACK, "rb"))),
        Expect(Phase.PROGRESSING, "advance", events=(
            N("Rollback hook rb not signaling a rollback"),
            N("Advance podinfo.test canary weight 40"))),
        id="rollback-hook-not-signaling-continues",
    ),
    pytest.param(
        podinfo(), run_state(weight=10), observe(metrics=breach(), canary=Readiness(
            False, NOT_READY)),
        Expect(Phase.PROGRESSING, events=(W(NOT_READY),), failed_checks=0),
        id="canary-not-ready-holds",
    ),
    pytest.param(
        podinfo(), run_state(weight=10, not_ready_since=LONG_AGO),
        observe(canary=Readiness(False, NOT_READY)),
        Expect(Phase.FAILED, "rollback", "rollback (progress deadline exceeded)",
               events=(W(f"Rolling back podinfo.test progress deadline exceeded {NOT_READY}"),
                       FAILED),
               alerts=((Severity.ERROR, f"Progress deadline exceeded {NOT_READY}"),),
               post_rollout="Failed"),
        id="canary-progress-deadline-rolls-back",
    ),
    pytest.param(
        podinfo(), run_state(weight=10, not_ready_since=LONG_AGO),
        observe(canary=Readiness(False, "series missing", known=False)),
        Expect(Phase.PROGRESSING, events=(W("series missing"),)),
        id="unknown-readiness-holds-without-deadline",
    ),
    pytest.param(
        podinfo(), run_state(Phase.PROMOTING, 50),
        observe(primary=Readiness(False, PRIMARY_NOT_READY)),
        Expect(Phase.PROMOTING, events=(W(PRIMARY_NOT_READY),), traffic=(50, 50)),
        id="promoting-primary-not-ready-holds",
    ),
    pytest.param(
        podinfo(), run_state(Phase.PROMOTING, 50, not_ready_since=LONG_AGO),
        observe(primary=Readiness(False, PRIMARY_NOT_READY)),
        Expect(Phase.FAILED, "route-to-canary",
               "route all traffic to canary (promotion failed, primary not ready)",
               events=(W(f"Promotion of podinfo.test failed, primary not ready: "
                         f"{PRIMARY_NOT_READY}"),),
               alerts=((Severity.ERROR, f"Promotion failed, primary not ready: "
                        f"{PRIMARY_NOT_READY}"),),
               traffic=(0, 100), post_rollout="Failed"),
        id="primary-progress-deadline-fails-promotion",
    ),
    pytest.param(
        podinfo(), run_state(weight=20, not_ready_since=LONG_AGO),
        observe(primary=Readiness(False, PRIMARY_NOT_READY)),
        Expect(Phase.FAILED, "rollback", "rollback (progress deadline exceeded)",
               post_rollout="Failed"),
        id="primary-progress-deadline-during-analysis-rolls-back",
    ),
    pytest.param(
        SKIP, run_state(), observe(),
        Expect(Phase.SUCCEEDED, "promote",
               "promote: copy podinfo template spec to podinfo-primary (analysis skipped)",
               events=(COPYING,
                       N("Promotion completed! Canary analysis was skipped for podinfo.test")),
               alerts=((Severity.INFO, "Canary analysis was skipped, promotion finished."),),
               traffic=(100, 0), post_rollout="Succeeded"),
        id="skip-analysis-promotes-at-once",
    ),
    pytest.param(
        podinfo(), run_state(weight=10), observe(metrics=passing(), hooks=hooks(refused(CTI))),
        Expect(Phase.PROGRESSING, events=(
            W("Halt podinfo.test advancement waiting for traffic increase approval gate"),),
            alerts=((Severity.WARN, "Canary traffic increase is waiting for approval."),),
            traffic=(90, 10)),
        id="traffic-increase-refused-holds",
    ),
    pytest.param(
        podinfo(), run_state(weight=10), observe(metrics=passing(), hooks=hooks(ok(CTI))),
        Expect(Phase.PROGRESSING, "advance", events=(
            N("Confirm-traffic-increase check gate passed"),
            N("Advance podinfo.test canary weight 20"))),
        id="traffic-increase-approved-advances",
    ),
    pytest.param(
        podinfo(), run_state(weight=50), observe(metrics=passing(), hooks=hooks(refused(CP))),
        Expect(Phase.WAITING_PROMOTION, events=(
            W("Halt podinfo.test advancement waiting for promotion approval gate"),),
            alerts=((Severity.WARN, "Canary promotion is waiting for approval."),),
            traffic=(50, 50)),
        id="promotion-refused-enters-waiting-promotion",
    ),
    pytest.param(
        podinfo(), run_state(Phase.WAITING_PROMOTION, 50),
        observe(metrics=passing(), hooks=hooks(refused(CP))),
        Expect(Phase.WAITING_PROMOTION, events=(), alerts=()),
        id="promotion-refused-again-is-silent",
    ),
    pytest.param(
        podinfo(), run_state(Phase.WAITING_PROMOTION, 50, failed_checks=2),
        observe(metrics=breach(), hooks=hooks(refused(CP))),
        Expect(Phase.WAITING_PROMOTION, events=(W(SR_BREACH),), failed_checks=3),
        id="waiting-promotion-still-counts-failures",
    ),
    pytest.param(
        podinfo(), run_state(Phase.WAITING_PROMOTION, 50),
        observe(metrics=passing(), hooks=hooks(ok(CP))),
        Expect(Phase.PROMOTING, "promote", "promote: copy podinfo template spec to podinfo-primary",
               events=(N("Confirm-promotion check gate passed"), COPYING), traffic=(50, 50)),
        id="promotion-approved-promotes",
    ),
    pytest.param(
        podinfo(), run_state(weight=50), observe(metrics=passing()),
        Expect(Phase.PROMOTING, "promote", events=(COPYING,)),
        id="max-weight-promotes",
    ),
    pytest.param(
        podinfo(), run_state(Phase.PROMOTING, 50), observe(),
        Expect(Phase.FINALISING, "route-to-primary", "route all traffic to primary",
               events=(N("Routing all traffic to primary"),), traffic=(100, 0)),
        id="promoting-routes-all-traffic-to-primary",
    ),
    pytest.param(
        SWP, run_state(Phase.PROMOTING, 50), observe(),
        Expect(Phase.PROMOTING, "advance-primary", "advance primary weight 80",
               events=(N("Advance podinfo.test primary weight 80"),), traffic=(80, 20)),
        id="step-weight-promotion-advances-primary",
    ),
    pytest.param(
        SWP, run_state(Phase.PROMOTING, 20), observe(),
        Expect(Phase.FINALISING, "advance-primary", "advance primary weight 100",
               traffic=(100, 0)),
        id="step-weight-promotion-reaches-primary",
    ),
    pytest.param(
        podinfo(), run_state(Phase.FINALISING, 0), observe(),
        Expect(Phase.SUCCEEDED, "scale-down", "scale down canary",
               events=(N("Promotion completed! Scaling down podinfo.test"),),
               alerts=((Severity.INFO,
                        "Canary analysis completed successfully, promotion finished."),),
               post_rollout="Succeeded"),
        id="finalising-scales-down",
    ),
    pytest.param(
        podinfo(), run_state(weight=30, failed_checks=2), observe(REV_C, metrics=breach()),
        Expect(Phase.PROGRESSING, "restart", "restart analysis for new revision",
               events=(N("New revision detected! Restarting analysis for podinfo.test"),),
               failed_checks=0, traffic=(100, 0), iterations=0),
        id="new-revision-mid-run-restarts",
    ),
    pytest.param(
        STEPS, run_state(weight=5), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, "advance", "advance canary weight 10", traffic=(90, 10)),
        id="step-weights-next-entry",
    ),
    pytest.param(
        STEPS, run_state(weight=25), observe(metrics=passing()),
        Expect(Phase.PROMOTING, "promote"),
        id="step-weights-last-entry-promotes",
    ),
    pytest.param(
        podinfo(max_weight=50, step_weight=20), run_state(weight=40), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, "advance", "advance canary weight 50", traffic=(50, 50)),
        id="step-capped-at-max-weight",
    ),
    pytest.param(
        MIRROR, run_state(), observe(),
        Expect(Phase.PROGRESSING, "mirror", "mirror traffic to canary",
               events=(START, N("Advance podinfo.test canary weight 0")), traffic=(100, 0)),
        id="canary-mirror-step",
    ),
    pytest.param(
        MIRROR, run_state(traffic=Traffic(100, 0, mirror=True)), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, "advance", "advance canary weight 10",
               events=(N("Advance podinfo.test canary weight 10"),), traffic=(90, 10)),
        id="canary-mirror-then-first-weight",
    ),
    pytest.param(
        BLUE_GREEN, run_state(), observe(),
        Expect(Phase.PROGRESSING, events=(START, N("Advance podinfo.test canary iteration 1/10")),
               iterations=1, traffic=(100, 0)),
        id="blue-green-first-iteration",
    ),
    pytest.param(
        BLUE_GREEN, run_state(iterations=3), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, events=(N("Advance podinfo.test canary iteration 4/10"),),
               iterations=4),
        id="blue-green-iteration",
    ),
    pytest.param(
        BLUE_GREEN, run_state(iterations=10), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, "route-to-canary", "route all traffic to canary",
               events=(N("Routing all traffic to canary"),), iterations=11, traffic=(0, 100)),
        id="blue-green-last-iteration-switches-traffic",
    ),
    pytest.param(
        BLUE_GREEN, run_state(iterations=11, traffic=Traffic(0, 100)),
        observe(metrics=passing()),
        Expect(Phase.PROMOTING, "promote", events=(COPYING,), traffic=(0, 100)),
        id="blue-green-promotes-after-switch",
    ),
    pytest.param(
        BLUE_GREEN, run_state(Phase.PROMOTING, traffic=Traffic(0, 100)), observe(),
        Expect(Phase.FINALISING, "route-to-primary", traffic=(100, 0)),
        id="blue-green-promoting-routes-back",
    ),
    pytest.param(
        BG_MIRROR, run_state(), observe(),
        Expect(Phase.PROGRESSING, "mirror", "mirror traffic to canary", iterations=1),
        id="blue-green-mirror-first-tick",
    ),
    pytest.param(
        BG_MIRROR, run_state(iterations=10, traffic=Traffic(100, 0, True)),
        observe(metrics=passing()),
        Expect(Phase.PROGRESSING, "route-to-canary", events=(
            N("Stop traffic mirroring and route all traffic to canary"),), traffic=(0, 100)),
        id="blue-green-mirror-switch",
    ),
    pytest.param(
        AB, run_state(), observe(),
        Expect(Phase.PROGRESSING, "route-to-canary", "route matched requests to canary",
               events=(START, N("Advance podinfo.test canary iteration 1/5")),
               iterations=1, traffic=(0, 100)),
        id="ab-first-tick-routes-matched-requests",
    ),
    pytest.param(
        AB, run_state(iterations=2, traffic=Traffic(0, 100)), observe(metrics=passing()),
        Expect(Phase.PROGRESSING, events=(N("Advance podinfo.test canary iteration 3/5"),),
               iterations=3),
        id="ab-next-iteration-no-change",
    ),
    pytest.param(
        AB, run_state(iterations=5, traffic=Traffic(0, 100)),
        observe(metrics=passing(), hooks=hooks(ok(CP))),
        Expect(Phase.PROMOTING, "promote"),
        id="ab-last-iteration-promotes",
    ),
]


@pytest.mark.parametrize(("canary", "state", "obs", "expect"), CASES)
def test_decide_during_a_run(
    canary: Canary, state: RolloutState, obs: Observation, expect: Expect
) -> None:
    check(run_decide(canary, state, obs), state, expect)


def test_rollback_change_reverts_and_scales_to_zero() -> None:
    decision = run_decide(podinfo(), run_state(weight=20, failed_checks=4),
                          observe(metrics=breach()))
    change = decision.change
    assert change is not None and change.revert and change.target_replicas == 0
    assert change.reason == "failed checks threshold reached 5"
    assert change.traffic == Traffic(100, 0)


def test_session_affinity_cookie_while_canary_has_weight() -> None:
    decision = run_decide(AFFINITY, run_state(weight=10), observe(metrics=passing()))
    cookie = f"canary-flagger-cookie={cookie_value(RUN_ID)}"
    assert decision.change is not None and decision.change.traffic is not None
    assert decision.change.traffic.session_cookie == cookie
    assert decision.state.traffic == Traffic(80, 20, False, cookie, "")


def test_session_affinity_primary_cookie_while_canary_has_weight() -> None:
    affinity = SessionAffinity(cookie_name="canary-flagger-cookie",
                               primary_cookie_name="primary-flagger-cookie")
    spec = podinfo(session_affinity=affinity)
    decision = run_decide(spec, run_state(weight=10), observe(metrics=passing()))
    traffic = decision.state.traffic
    assert traffic.session_cookie == f"canary-flagger-cookie={cookie_value(RUN_ID)}"
    assert traffic.primary_cookie == (
        f"primary-flagger-cookie={cookie_value(RUN_ID + '/primary')}")
    assert traffic.primary_cookie.split("=")[1] != traffic.session_cookie.split("=")[1]
    old = run_state(Phase.PROMOTING, traffic=traffic)
    assert run_decide(spec, old, observe()).state.traffic.primary_cookie == ""


def test_session_affinity_cookie_moves_to_previous_at_weight_zero() -> None:
    cookie = f"canary-flagger-cookie={cookie_value(RUN_ID)}"
    old = run_state(Phase.PROMOTING, traffic=Traffic(50, 50, False, cookie))
    decision = run_decide(AFFINITY, old, observe())
    assert decision.state.traffic == Traffic(100, 0, False, "", cookie)


def test_session_affinity_rollback_keeps_previous_cookie() -> None:
    cookie = f"canary-flagger-cookie={cookie_value(RUN_ID)}"
    old = run_state(traffic=Traffic(70, 30, False, cookie), failed_checks=5)
    decision = run_decide(AFFINITY, old, observe(metrics=passing()))
    assert decision.change is not None
    assert decision.change.traffic == Traffic(100, 0, False, "", cookie)


def test_restart_gives_a_new_rollout_id_and_scales_up() -> None:
    decision = run_decide(podinfo(), run_state(weight=30), observe(REV_C, scale_up_replicas=2))
    state = decision.state
    assert (state.run, state.rollout_id, state.last_applied_spec) == (2, "cccccccccccc-2", REV_C)
    assert decision.change is not None and decision.change.target_replicas == 2


def test_not_ready_since_is_recorded_then_cleared() -> None:
    held = run_decide(podinfo(), run_state(weight=10),
                      observe(canary=Readiness(False, NOT_READY)))
    assert held.state.not_ready_since == "2026-11-22T10:00:00Z"
    ready = run_decide(podinfo(), held.state, observe(metrics=passing()))
    assert ready.state.not_ready_since == "" and ready.state.canary_weight == 20


def test_promote_records_promoted_revision() -> None:
    decision = run_decide(podinfo(), run_state(weight=50), observe(metrics=passing()))
    assert decision.change is not None and decision.change.promote
    assert decision.state.last_promoted_spec == REV_B
