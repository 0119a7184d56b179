"""Pull-request mode's additions to the state machine (pure).

Called by `gitbot.landing.PullRequestLanding`: what the state becomes when a promotion PR
waits for review, when people refuse a PR (the run rolls back, like Flagger's rollback), when a
person merges the promotion PR by hand, and the record of each analysis tick of the run that the
promotion PR body shows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from gitbot.core import messages
from gitbot.core.decide_tick import Tick, rfc3339, rollback
from gitbot.core.plan import ANALYSIS_PHASES
from gitbot.core.spec import Canary
from gitbot.core.state import (
    Decision,
    Event,
    Observation,
    Phase,
    PullRequestRef,
    RolloutState,
    TickRecord,
)

KEEP_TICKS = 60


def _tick(spec: Canary, state: RolloutState, now: datetime) -> Tick:
    obs = Observation(target_revision=state.last_applied_spec, bootstrapped=True)
    return Tick(spec=spec, obs=obs, now=now, old=state, state=state)


def rejected(spec: Canary, state: RolloutState, reason: str, now: datetime) -> Decision:
    """People said no to gitbot's PR (reject, `/gitbot abort`, closed unmerged): roll back.

    The refused PR stays in the state: landing the rollback closes it with the reason."""
    tick = _tick(spec, replace(state, pending=None), now)
    tick.warning(f"Rolling back {spec.dotted}: {reason}")
    rollback(tick, reason)
    return tick.finish()


def promotion_merged(spec: Canary, state: RolloutState, now: datetime) -> RolloutState:
    """A person merged the promotion PR: the promotion landed, as if gitbot had merged it."""
    tick = _tick(spec, replace(state, pending=None, pull_request=None), now)
    tick.normal(messages.copying_template(spec))
    tick.update(phase=Phase.PROMOTING, last_promoted_spec=state.last_applied_spec)
    return tick.finish().state


def held_for_review(
    spec: Canary, before: RolloutState, decided: RolloutState, ref: PullRequestRef,
    now: datetime,
) -> RolloutState:
    """The promotion PR waits for people: phase WaitingPromotion, the promotion not landed.

    The first time, the decided state (step counted, events kept) plus a Halt event; on later
    ticks (the analysis passed again and re-decided the promotion) only the tick's counters
    change, without repeating the promotion's events.
    """
    first = before.pull_request is None or before.pull_request.number != ref.number
    held = replace(
        decided, phase=Phase.WAITING_PROMOTION, pending=None, pull_request=ref,
        last_promoted_spec=before.last_promoted_spec,
    )
    if first:
        pr = f"pull request #{ref.number}" + (f" {ref.url}" if ref.url else "")
        event = Event(rfc3339(now), "Warning", messages.halt_waiting_promotion(spec, pr))
        return held.with_events(event)
    return replace(held, step=before.step, events=before.events,
                   last_transition_time=before.last_transition_time)


def record_tick(before: RolloutState, decision: Decision, obs: Observation,
                now: datetime) -> Decision:
    """Add this tick to the run's analysis record (a new run starts a new record)."""
    state = decision.state
    ticks = before.ticks if state.rollout_id == before.rollout_id else ()
    ran = before.phase in ANALYSIS_PHASES and obs.cluster_synced and bool(obs.metrics)
    if ran:
        hooks = tuple(h for results in obs.hooks.values() for h in results)
        record = TickRecord(rfc3339(now), before.canary_weight, obs.metrics, hooks)
        ticks = (*ticks, record)[-KEEP_TICKS:]
    if ticks == state.ticks:
        return decision
    return replace(decision, state=replace(state, ticks=ticks))
