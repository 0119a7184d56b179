"""What a passing analysis tick does for each strategy, and the promotion that follows.

Called by `gitbot.core.decide_run` once the analysis of a tick passed (canary, blue/green and
A/B steps, the promotion gates), and for the Promoting and Finalising phases. Every function
decides at most one repository change through `Tick.commit`.
"""

from __future__ import annotations

from gitbot.core import messages
from gitbot.core.decide_tick import Tick, approval_gate, first_failure
from gitbot.core.plan import at_promotion, increases_weight, is_mirror_step
from gitbot.core.spec import Severity, Strategy, WebhookType
from gitbot.core.state import Phase, RepoChange
from gitbot.core.weights import next_canary_weight, promotion_step


def step(tick: Tick) -> None:
    """Advance the run by one step of the canary's strategy (the analysis passed)."""
    strategy = tick.spec.strategy
    if strategy is Strategy.AB_TESTING:
        _ab_step(tick)
    elif strategy is Strategy.BLUE_GREEN:
        _blue_green_step(tick)
    else:
        _canary_step(tick)


def _canary_step(tick: Tick) -> None:
    if at_promotion(tick.spec, tick.state):
        if confirm_promotion(tick):
            promote(tick)
        return
    if increases_weight(tick.spec, tick.state) and not confirm_traffic_increase(tick):
        return
    if is_mirror_step(tick.spec, tick.state):
        _start_mirroring(tick, "mirror traffic to canary")
        tick.normal(messages.advance_weight(tick.spec, 0))
        tick.log = "Running mirror step 100/0/true"
        return
    weight = next_canary_weight(tick.spec.analysis, tick.state.traffic.canary_weight)
    traffic = tick.traffic(100 - weight, weight)
    tick.normal(messages.advance_weight(tick.spec, weight))
    tick.commit(RepoChange("advance", f"advance canary weight {weight}", traffic=traffic))
    tick.update(traffic=traffic)


def _start_mirroring(tick: Tick, subject: str) -> None:
    traffic = tick.traffic(100, 0, mirror=True)
    tick.commit(RepoChange("mirror", subject, traffic=traffic))
    tick.update(traffic=traffic)


def _blue_green_step(tick: Tick) -> None:
    total = tick.spec.analysis.iterations
    done = tick.state.iterations
    if done < total:
        if tick.spec.analysis.mirror and not tick.state.traffic.mirror:
            _start_mirroring(tick, "mirror traffic to canary")
        tick.update(iterations=done + 1)
        tick.normal(messages.advance_iteration(tick.spec, done + 1, total))
        return
    if not confirm_promotion(tick):
        return
    if done > total:
        promote(tick)
        return
    mirrored = tick.spec.analysis.mirror
    tick.normal(
        messages.STOP_MIRROR_ROUTE_TO_CANARY if mirrored else messages.ROUTE_ALL_TO_CANARY
    )
    traffic = tick.traffic(0, 100)
    tick.commit(RepoChange("route-to-canary", "route all traffic to canary", traffic=traffic))
    tick.update(traffic=traffic, iterations=total + 1)


def _ab_step(tick: Tick) -> None:
    total = tick.spec.analysis.iterations
    done = tick.state.iterations
    if done >= total:
        if confirm_promotion(tick):
            promote(tick)
        return
    current = tick.state.traffic
    if (current.primary_weight, current.canary_weight, current.mirror) != (0, 100, False):
        traffic = tick.traffic(0, 100)
        subject = "route matched requests to canary"
        tick.commit(RepoChange("route-to-canary", subject, traffic=traffic))
        tick.update(traffic=traffic)
    tick.update(iterations=done + 1)
    tick.normal(messages.advance_iteration(tick.spec, done + 1, total))


def confirm_traffic_increase(tick: Tick) -> bool:
    """Flagger's confirm-traffic-increase gate: a refusal holds the weight (event each tick)."""
    results = tick.obs.hook_results(WebhookType.CONFIRM_TRAFFIC_INCREASE)
    refused = first_failure(results)
    if refused is not None:
        tick.warning(messages.halt_waiting_traffic(tick.spec, refused.name))
        if not tick.muted(WebhookType.CONFIRM_TRAFFIC_INCREASE, refused.name):
            tick.alert(Severity.WARN, messages.ALERT_WAITING_TRAFFIC)
        tick.log = f"{tick.spec.key}: traffic increase waits for {refused.name}"
        return False
    for result in results:
        tick.normal(messages.check_passed(WebhookType.CONFIRM_TRAFFIC_INCREASE, result.name))
    return True


def confirm_promotion(tick: Tick) -> bool:
    """Flagger's confirm-promotion gate: a refusal moves to WaitingPromotion (told once)."""
    if not approval_gate(
        tick, WebhookType.CONFIRM_PROMOTION, Phase.WAITING_PROMOTION,
        lambda hook: messages.halt_waiting_promotion(tick.spec, hook),
        messages.ALERT_WAITING_PROMOTION, "promotion",
    ):
        return False
    for result in tick.obs.hook_results(WebhookType.CONFIRM_PROMOTION):
        tick.normal(messages.check_passed(WebhookType.CONFIRM_PROMOTION, result.name))
    return True


def promote_subject(tick: Tick) -> str:
    return f"promote: copy {tick.spec.target.name} template spec to {tick.spec.primary_name}"


def promote(tick: Tick) -> None:
    """Copy the canary template into the primary; phase Promoting."""
    tick.normal(messages.copying_template(tick.spec))
    tick.commit(RepoChange("promote", promote_subject(tick), promote=True))
    tick.update(phase=Phase.PROMOTING, last_promoted_spec=tick.state.last_applied_spec)


def promote_skipping_analysis(tick: Tick) -> None:
    """skipAnalysis: route to primary, promote and scale the canary down in one commit."""
    traffic = tick.traffic(100, 0)
    tick.normal(messages.copying_template(tick.spec))
    tick.normal(messages.promotion_skipped(tick.spec))
    tick.alert(Severity.INFO, messages.ALERT_SKIPPED)
    change = RepoChange(
        "promote",
        promote_subject(tick) + " (analysis skipped)",
        traffic=traffic,
        target_replicas=0,
        promote=True,
        reason="skipAnalysis",
    )
    tick.commit(change)
    last = tick.state.last_applied_spec
    tick.update(phase=Phase.SUCCEEDED, traffic=traffic, last_promoted_spec=last)
    tick.post_rollout = "Succeeded"


def promoting(tick: Tick) -> None:
    """Route traffic back to the (now promoted) primary, at once or by stepWeightPromotion."""
    current = tick.state.traffic
    primary, canary = promotion_step(
        tick.spec.analysis, current.primary_weight, current.canary_weight
    )
    traffic = tick.traffic(primary, canary)
    if tick.spec.analysis.step_weight_promotion <= 0 or current.canary_weight <= 0:
        tick.normal(messages.ROUTE_ALL_TO_PRIMARY)
        tick.commit(RepoChange("route-to-primary", "route all traffic to primary", traffic=traffic))
    else:
        tick.normal(messages.advance_primary(tick.spec, primary))
        subject = f"advance primary weight {primary}"
        tick.commit(RepoChange("advance-primary", subject, traffic=traffic))
    tick.update(traffic=traffic, phase=Phase.FINALISING if primary >= 100 else Phase.PROMOTING)


def finalising(tick: Tick) -> None:
    """Scale the canary down; the run succeeded."""
    tick.normal(messages.promotion_completed(tick.spec))
    tick.commit(RepoChange("scale-down", "scale down canary", target_replicas=0))
    tick.update(phase=Phase.SUCCEEDED, not_ready_since="")
    tick.alert(Severity.INFO, messages.ALERT_SUCCEEDED)
    tick.post_rollout = "Succeeded"


def failed_promotion(tick: Tick, detail: str) -> None:
    """The primary never became ready after promotion: keep the canary serving (Flagger 1.44)."""
    tick.warning(messages.promotion_failed(tick.spec, detail))
    tick.alert(Severity.ERROR, messages.alert_promotion_failed(detail))
    traffic = tick.traffic(0, 100)
    reason = "promotion failed, primary not ready"
    subject = f"route all traffic to canary ({reason})"
    tick.commit(RepoChange("route-to-canary", subject, traffic=traffic, reason=reason))
    tick.update(phase=Phase.FAILED, traffic=traffic, not_ready_since="")
    tick.post_rollout = "Failed"
