"""What the reconciler must call before deciding: the webhook types and whether to query metrics.

The reconciler calls `plan_tick` first, runs the planned hooks (each type's hooks in spec order,
stopping at the first failure) and metric queries, puts the results in the `Observation`, then
calls `gitbot.core.decide.decide`. The predicates below are shared with `decide`, so the two
cannot disagree about which tick is an analysis tick or which gate applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitbot.core.spec import Canary, Strategy, WebhookType
from gitbot.core.state import Phase, RolloutState
from gitbot.core.weights import can_advance, max_weight

IDLE_PHASES = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED})
ANALYSIS_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})


@dataclass(frozen=True)
class TickPlan:
    """The webhook types to call this tick, in order, and whether to query the metrics."""

    hooks: tuple[WebhookType, ...] = ()
    metrics: bool = False


NOTHING = TickPlan()


def is_new_revision(state: RolloutState, revision: str) -> bool:
    """A target revision that starts a run: neither the last applied nor the promoted one."""
    return bool(revision) and revision not in (state.last_applied_spec, state.last_promoted_spec)


def revision_changed(state: RolloutState, revision: str) -> bool:
    """A new target revision during a run (restarts the analysis)."""
    return bool(revision) and revision != state.last_applied_spec


def is_first_analysis_tick(state: RolloutState) -> bool:
    """Flagger's pre-rollout tick: no canary weight, no iteration, no mirroring yet."""
    traffic = state.traffic
    return traffic.canary_weight == 0 and state.iterations == 0 and not traffic.mirror


def is_mirror_step(canary: Canary, state: RolloutState) -> bool:
    """Canary strategy with mirroring, before any weight: the next step only turns mirroring on."""
    traffic = state.traffic
    return canary.analysis.mirror and traffic.canary_weight == 0 and not traffic.mirror


def increases_weight(canary: Canary, state: RolloutState) -> bool:
    """The next passing tick raises the canary weight (confirm-traffic-increase applies).

    Unlike Flagger, the gate guards exactly the steps that raise live traffic: not the
    mirror step (no live traffic moves), but the step that leaves mirroring for the first weight.
    """
    if canary.strategy is not Strategy.CANARY or state.phase is not Phase.PROGRESSING:
        return False
    if not can_advance(canary.analysis, state.traffic.canary_weight):
        return False
    return not is_mirror_step(canary, state)


def at_promotion(canary: Canary, state: RolloutState) -> bool:
    """The next passing tick needs confirm-promotion (max weight, or last iteration reached)."""
    if canary.strategy is Strategy.CANARY:
        return state.traffic.canary_weight >= max_weight(canary.analysis)
    return state.iterations >= canary.analysis.iterations


def plan_tick(
    spec: Canary,
    state: RolloutState,
    target_revision: str,
    bootstrapped: bool,
    *,
    cluster_synced: bool = True,
    canary_ready: bool = True,
    primary_ready: bool = True,
) -> TickPlan:
    """The hooks and metric queries `decide` will use on this tick.

    `bootstrapped` is accepted for symmetry with the observation; nothing is called while
    initializing either way. The keyword-only flags let the reconciler skip every call on
    ticks `decide` will hold anyway (cluster not synced, canary or primary not ready), so
    pre-rollout tests never run against a pod that is not ready.
    """
    phase = state.phase
    if spec.suspend or phase is Phase.INITIALIZING or not cluster_synced:
        return NOTHING
    if phase in IDLE_PHASES:
        new = is_new_revision(state, target_revision)
        return _only(spec, WebhookType.CONFIRM_ROLLOUT) if new else NOTHING
    if phase is Phase.WAITING:
        return _only(spec, WebhookType.ROLLBACK, WebhookType.CONFIRM_ROLLOUT)
    if phase not in ANALYSIS_PHASES or revision_changed(state, target_revision):
        return NOTHING
    if spec.skip_analysis or not (canary_ready and primary_ready):
        return NOTHING
    return _analysis_plan(spec, state)


def _analysis_plan(spec: Canary, state: RolloutState) -> TickPlan:
    if state.failed_checks >= spec.analysis.threshold:
        return _only(spec, WebhookType.ROLLBACK)
    first = is_first_analysis_tick(state)
    kinds = [WebhookType.ROLLBACK, WebhookType.PRE_ROLLOUT if first else WebhookType.ROLLOUT]
    if increases_weight(spec, state):
        kinds.append(WebhookType.CONFIRM_TRAFFIC_INCREASE)
    elif at_promotion(spec, state):
        kinds.append(WebhookType.CONFIRM_PROMOTION)
    plan = _only(spec, *kinds)
    return TickPlan(plan.hooks, metrics=not first and bool(spec.analysis.metrics))


def _only(spec: Canary, *kinds: WebhookType) -> TickPlan:
    """Keep the types that have at least one webhook in the spec."""
    return TickPlan(tuple(k for k in kinds if spec.analysis.hooks(k)))
