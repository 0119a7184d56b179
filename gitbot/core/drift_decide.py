"""What gitbot does about a drift (`gitbot.core.drift.assess`): a `Decision`, told once.

Pure. Called by `gitbot.drift` before the tick's observe/decide; when it returns a decision the
reconciler records and acts on it instead of deciding. The policy is in `gitbot.core.drift`.
"""

from __future__ import annotations

from datetime import datetime

from gitbot.core import drift_messages as text
from gitbot.core.decide_tick import Tick, rollback
from gitbot.core.drift import Action, Drift
from gitbot.core.spec import Canary, Severity
from gitbot.core.state import ACTIVE_PHASES, Decision, Observation, Phase, RolloutState, Traffic


def drift_decision(
    spec: Canary, state: RolloutState, drift: Drift, declared: Traffic | None, now: datetime
) -> Decision:
    """What gitbot does about `drift` (see the module docstring); reported once per drift."""
    tick = Tick(spec=spec, obs=_no_observation(state), now=now, old=state, state=state)
    event = text.drift_event(spec, drift)
    if drift.action is Action.HALT:
        if state.drift == event:
            tick.log = f"{spec.key}: still halted: {text.findings_text(drift)}"
            return tick.finish()
        tick.update(drift=event)
        tick.warning(event)
        tick.alert(Severity.WARN, text.drift_chat(spec, drift))
        tick.log = f"{spec.key}: halted: {text.findings_text(drift)}"
        return tick.finish()
    tick.update(drift="")
    tick.warning(event)
    if drift.action is Action.ROLLBACK:
        tick.alert(Severity.ERROR, text.drift_chat(spec, drift))
        rollback(tick, text.rollback_reason(drift))
        return tick.finish()
    tick.alert(Severity.WARN, text.drift_chat(spec, drift))
    tick.update(phase=Phase.FAILED, traffic=declared or state.traffic, iterations=0,
                not_ready_since="")
    tick.post_rollout = "Failed"
    return tick.finish()


def resumed_decision(spec: Canary, state: RolloutState, now: datetime) -> Decision | None:
    """The values match again after a halt: say so once and clear the mark (None if not halted)."""
    if not state.drift:
        return None
    tick = Tick(spec=spec, obs=_no_observation(state), now=now, old=state, state=state)
    tick.update(drift="")
    if state.phase in ACTIVE_PHASES:
        tick.normal(text.resumed_event(spec))
        tick.alert(Severity.INFO, text.resumed_chat(spec))
    return tick.finish()


def _no_observation(state: RolloutState) -> Observation:
    """Drift is decided before anything is observed: a placeholder for `Tick`."""
    return Observation(target_revision=state.last_applied_spec, bootstrapped=True)
