"""Flagger's canary state machine as one pure function: `decide(spec, state, obs, now)`.

Called by the reconciler once per canary per tick, after it ran the hooks and metric queries that
`gitbot.core.plan.plan_tick` asked for. No I/O, no clock (`now` is given), no logging. The result
says what to commit (at most one `RepoChange`), the new `RolloutState` (events appended, `step`
and `pending` set when a change is decided), the events and alerts to send, and whether the
post-rollout hooks must run.

This module handles suspend, the cluster-sync wait, initialization and the idle phases
(Initialized, Succeeded, Failed, Waiting: new-revision detection and confirm-rollout); runs in
progress are handled by `gitbot.core.decide_run` and `gitbot.core.strategies`.
"""

from __future__ import annotations

from datetime import datetime

from gitbot.core import messages
from gitbot.core.decide_run import advance, manual_rollback_requested
from gitbot.core.decide_tick import Tick, approval_gate, begin_run
from gitbot.core.plan import is_new_revision
from gitbot.core.spec import Canary, Severity, WebhookType
from gitbot.core.state import ACTIVE_PHASES, Decision, Observation, Phase, RepoChange, RolloutState

__all__ = ["decide"]

INITIALIZE_SUBJECT = "initialize: generate primary, services and routing, scale {target} to 0"
PRIMARY_SUBJECT = "initialize: generate {primary}"
ROUTING_SUBJECT = "initialize: route all traffic to {primary}, scale {target} to 0"


def decide(spec: Canary, state: RolloutState, obs: Observation, now: datetime) -> Decision:
    """Decide one tick for one canary (see the module docstring)."""
    tick = Tick(spec=spec, obs=obs, now=now, old=state, state=state)
    if spec.suspend:
        _suspended(tick)
    elif state.phase is Phase.INITIALIZING:
        _initialize(tick)
    elif not obs.cluster_synced:
        tick.log = (
            f"{spec.key}: waiting for the cluster to apply gitbot's last commit; "
            "this tick is not counted"
        )
    elif state.phase in ACTIVE_PHASES:
        advance(tick)
    elif state.phase is Phase.WAITING:
        _waiting(tick)
    else:
        _idle(tick)
    return tick.finish()


def _suspended(tick: Tick) -> None:
    tick.log = f"{tick.spec.key}: suspended"
    events = tick.state.events
    if not events or events[-1].message != messages.SUSPENDED:
        tick.normal(messages.SUSPENDED)


def _initialize(tick: Tick) -> None:
    spec, obs = tick.spec, tick.obs
    if not obs.target_revision:
        tick.log = f"{spec.key}: target {spec.target.name} not found; cannot initialize"
        return
    if obs.staged_initialization and _staging(tick):
        return
    # staged: the revision the primary was generated from (a newer one is then a new run)
    revision = tick.state.last_promoted_spec or obs.target_revision
    tick.update(
        phase=Phase.INITIALIZED, last_applied_spec=revision, last_promoted_spec=revision
    )
    tick.normal(messages.initialization_done(spec))
    if obs.bootstrapped:
        tick.log = f"{spec.key}: routing objects already in the repository; initialized"
        return
    tick.alert(Severity.INFO, messages.alert_initialized(spec), metadata=True)
    traffic = tick.traffic(100, 0)
    subject = INITIALIZE_SUBJECT.format(target=spec.target.name)
    tick.commit(
        RepoChange("initialize", subject, traffic=traffic, target_replicas=0, bootstrap=True)
    )
    tick.update(traffic=traffic)


def _staging(tick: Tick) -> bool:
    """Flagger's order, through Git: the primary alone; once the cluster runs it and it is
    ready, the routing with the target scaled to 0; "Initialization done!" once the cluster
    runs that. True while a stage holds the tick (the phase stays Initializing)."""
    spec, obs = tick.spec, tick.obs
    names = {"primary": spec.primary_name, "target": spec.target.name}
    if not obs.primary_generated:
        revision = obs.target_revision
        tick.update(last_applied_spec=revision, last_promoted_spec=revision)
        tick.commit(RepoChange("initialize-primary", PRIMARY_SUBJECT.format(**names),
                               bootstrap_primary=True))
        tick.log = f"{spec.key}: generating {spec.primary_name} before any routing"
        return True
    if not obs.cluster_synced or not obs.primary.ready:
        tick.log = (f"{spec.key}: waiting for {spec.primary_name} to run and be ready before "
                    "routing traffic to it")
        return True
    if obs.bootstrapped:
        return False  # the cluster runs the routing: initialized
    traffic = tick.traffic(100, 0)
    tick.commit(RepoChange("initialize", ROUTING_SUBJECT.format(**names), traffic=traffic,
                           target_replicas=0, bootstrap=True))
    tick.update(traffic=traffic)
    tick.alert(Severity.INFO, messages.alert_initialized(spec), metadata=True)
    return True


def _idle(tick: Tick) -> None:
    """Initialized, Succeeded or Failed: start a run when a new revision appears."""
    revision = tick.obs.target_revision
    if not revision:
        tick.log = f"{tick.spec.key}: target {tick.spec.target.name} not found"
    elif is_new_revision(tick.state, revision):
        if _confirm_rollout(tick):
            start_run(tick)
    elif tick.obs.routing_update:  # the Canary's service fields changed: as Flagger reconciles
        tick.commit(RepoChange("update-routing",
                               f"update routing ({tick.obs.routing_update})",
                               update_routing=True))
    elif revision != tick.state.last_applied_spec:
        tick.update(last_applied_spec=revision)
        tick.log = f"{tick.spec.key}: revision {revision} is already the primary's; no analysis"


def _waiting(tick: Tick) -> None:
    """Waiting for confirm-rollout: asked again each tick; a rollback hook cancels the run."""
    revision = tick.obs.target_revision
    if manual_rollback_requested(tick):
        tick.warning(messages.rolling_back_manual(tick.spec))
        tick.alert(Severity.WARN, messages.ALERT_MANUAL_ROLLBACK)
        tick.warning(messages.canary_failed(tick.spec))
        tick.update(phase=Phase.FAILED, last_applied_spec=revision or tick.state.last_applied_spec)
        tick.post_rollout = "Failed"
    elif revision and not is_new_revision(tick.state, revision):
        tick.update(phase=Phase.SUCCEEDED, last_applied_spec=revision)
        tick.log = f"{tick.spec.key}: the waiting revision was withdrawn; nothing to analyse"
    elif revision and _confirm_rollout(tick):
        start_run(tick)


def _confirm_rollout(tick: Tick) -> bool:
    """Flagger's confirm-rollout gate: a refusal enters Waiting (event and alert once)."""
    was_waiting = tick.phase is Phase.WAITING
    if not approval_gate(
        tick, WebhookType.CONFIRM_ROLLOUT, Phase.WAITING,
        lambda hook: messages.halt_waiting_approval(tick.spec, hook),
        messages.ALERT_WAITING_APPROVAL, "rollout",
    ):
        return False
    if was_waiting:
        for result in tick.obs.hook_results(WebhookType.CONFIRM_ROLLOUT):
            tick.normal(messages.check_passed(WebhookType.CONFIRM_ROLLOUT, result.name))
    return True


def start_run(tick: Tick) -> None:
    """Scale the canary up; phase Progressing with counters at 0 and a new rollout id."""
    tick.alert(Severity.INFO, messages.ALERT_RUN_STARTED, metadata=True)
    traffic = begin_run(tick, messages.new_revision(tick.spec))
    replicas = tick.obs.scale_up_replicas
    change = RepoChange("scale-up", "scale up canary", traffic=traffic, target_replicas=replicas)
    tick.commit(change)
