"""Staged initialization (Flux layouts): the primary alone, routing only once the cluster runs
a ready primary, "Initialization done!" only once the cluster runs the routing."""

from __future__ import annotations

from typing import Any

import pytest
from test_decide_common import REV_A, Expect, N, check, not_ready, podinfo, run_decide

from gitbot.core.spec import Severity
from gitbot.core.state import Observation, Phase, RolloutState


def staged(**fields: Any) -> Observation:
    values: dict[str, Any] = {"target_revision": REV_A, "bootstrapped": False,
                              "staged_initialization": True, "primary_generated": True}
    values.update(fields)
    return Observation(**values)


WAITING = Expect(Phase.INITIALIZING, action=None, events=(), alerts=())
CASES = [
    pytest.param(staged(primary_generated=False),
                 Expect(Phase.INITIALIZING, action="initialize-primary",
                        subject="initialize: generate podinfo-primary", events=(), alerts=()),
                 id="first-the-primary-alone"),
    pytest.param(staged(cluster_synced=False), WAITING, id="primary-not-applied-waits"),
    pytest.param(staged(primary=not_ready("primary deployment podinfo-primary.test not ready")),
                 WAITING, id="primary-not-ready-waits"),
    pytest.param(staged(),
                 Expect(Phase.INITIALIZING, action="initialize",
                        subject="initialize: route all traffic to podinfo-primary, scale podinfo "
                        "to 0", events=(),
                        alerts=((Severity.INFO,
                                 "New Deployment detected, initialization completed."),),
                        traffic=(100, 0)),
                 id="ready-primary-gets-the-routing"),
    pytest.param(staged(bootstrapped=True, cluster_synced=False), WAITING,
                 id="routing-not-applied-waits"),
    pytest.param(staged(bootstrapped=True),
                 Expect(Phase.INITIALIZED, action=None,
                        events=(N("Initialization done! podinfo.test"),), alerts=()),
                 id="done-once-the-cluster-runs-the-routing"),
]


@pytest.mark.parametrize(("obs", "expect"), CASES)
def test_staged_initialization(obs: Observation, expect: Expect) -> None:
    state = RolloutState()
    check(run_decide(podinfo(), state, obs), state, expect)


def test_a_release_during_initialization_is_analysed_afterwards() -> None:
    state = RolloutState()
    first = run_decide(podinfo(), state, staged(primary_generated=False))
    newer = "f" * 40  # released before the routing commit: the primary runs REV_A
    done = run_decide(podinfo(), first.state, staged(bootstrapped=True, target_revision=newer))
    assert done.state.phase is Phase.INITIALIZED
    assert (done.state.last_promoted_spec, done.state.last_applied_spec) == (REV_A, REV_A)


def test_canary_routing_edits_are_committed_outside_a_run() -> None:
    from test_decide_common import REV_B, idle_state

    state = idle_state()
    decision = run_decide(podinfo(), state, staged(target_revision=REV_B, bootstrapped=True,
                                                   routing_update="hosts, retries"))
    check(decision, state, Expect(Phase.SUCCEEDED, action="update-routing",
                                  subject="update routing (hosts, retries)", events=()))
    newer = run_decide(podinfo(), state, staged(target_revision="f" * 40, bootstrapped=True,
                                                routing_update="hosts"))
    assert newer.change is not None and newer.change.action == "scale-up"  # a release first


@pytest.mark.parametrize("phase", [
    pytest.param(Phase.PROGRESSING, id="progressing"),
    pytest.param(Phase.WAITING_PROMOTION, id="waiting-promotion"),
])
def test_canary_routing_edits_mid_run_are_committed_at_the_current_weights(phase: Phase) -> None:
    from test_decide_common import observe, passing, run_state

    state = run_state(phase, weight=20)
    decision = run_decide(podinfo(), state, observe(routing_update="gateways, hosts",
                                                    metrics=passing()))
    change = decision.change
    assert change is not None
    assert (change.action, change.subject, change.update_routing, change.traffic) == (
        "update-routing", "update routing (gateways, hosts)", True, state.traffic)
    assert (decision.state.phase, decision.state.traffic, decision.state.failed_checks) == (
        phase, state.traffic, 0)
    after = run_decide(podinfo(), decision.state, observe(metrics=passing()))
    assert after.change is None or after.change.action != "update-routing"
