"""One tick of a run in progress: Progressing, WaitingPromotion, Promoting, Finalising.

Called by `gitbot.core.decide.decide` for the active phases once the cluster runs gitbot's last
commit. The order follows Flagger's `advanceCanary` (steps 12-24): primary readiness, new
revision restart, canary readiness, skipAnalysis, rollback hooks, the failed-checks threshold,
the analysis (pre-rollout on the first tick, rollout hooks and metrics afterwards), then the
strategy step. One deliberate difference: when a failed check reaches the threshold, gitbot rolls
back on the same tick instead of waiting one more interval.
"""

from __future__ import annotations

from gitbot.core import messages, strategies
from gitbot.core.analysis import failed_results
from gitbot.core.decide_tick import (
    Tick,
    begin_run,
    deadline_rollback,
    first_failure,
    readiness_gate,
    rollback,
)
from gitbot.core.plan import ANALYSIS_PHASES, is_first_analysis_tick, revision_changed
from gitbot.core.spec import Severity, WebhookType
from gitbot.core.state import Phase, RepoChange


def advance(tick: Tick) -> None:
    """Handle a tick in an active phase."""
    if tick.phase in ANALYSIS_PHASES and tick.obs.routing_update:
        _update_routing(tick)
    elif tick.phase in ANALYSIS_PHASES:
        _analysis_phase(tick)
    elif _primary_ready(tick):
        tick.update(not_ready_since="")
        if tick.phase is Phase.PROMOTING:
            strategies.promoting(tick)
        else:
            strategies.finalising(tick)


def _update_routing(tick: Tick) -> None:
    """The Canary's service/route fields changed mid-run: the generated objects follow them at
    the current weights, in one commit that is not a step; the analysis goes on next tick."""
    fields = tick.obs.routing_update
    tick.commit(RepoChange("update-routing", f"update routing ({fields})", update_routing=True,
                           traffic=tick.state.traffic))
    tick.log = (f"{tick.spec.key}: the Canary's routing changed ({fields}); updated at "
                f"weight {tick.state.traffic.canary_weight}, the analysis resumes next tick")


def _primary_ready(tick: Tick) -> bool:
    if tick.spec.skip_analysis and tick.phase in ANALYSIS_PHASES:
        return True
    in_run = tick.phase in ANALYSIS_PHASES
    on_deadline = deadline_rollback if in_run else strategies.failed_promotion
    return readiness_gate(tick, tick.obs.primary, on_deadline)


def _analysis_phase(tick: Tick) -> None:
    if not _primary_ready(tick):
        return
    if revision_changed(tick.state, tick.obs.target_revision):
        restart(tick)
        return
    if not readiness_gate(tick, tick.obs.canary, deadline_rollback):
        return
    tick.update(not_ready_since="")
    if tick.spec.skip_analysis:
        strategies.promote_skipping_analysis(tick)
    elif manual_rollback_requested(tick):
        tick.warning(messages.rolling_back_manual(tick.spec))
        tick.alert(Severity.WARN, messages.ALERT_MANUAL_ROLLBACK)
        rollback(tick, "manual webhook invoked")
    elif tick.state.failed_checks >= tick.spec.analysis.threshold:
        rollback(tick, _threshold_reason(tick))
    elif _analysis_passed(tick):
        strategies.step(tick)


def restart(tick: Tick) -> None:
    """A new revision mid-run: traffic back to primary, counters reset, a new rollout id."""
    traffic = begin_run(tick, messages.restarting_analysis(tick.spec))
    subject = "restart analysis for new revision"
    replicas = tick.obs.scale_up_replicas
    tick.commit(RepoChange("restart", subject, traffic=traffic, target_replicas=replicas))


def manual_rollback_requested(tick: Tick) -> bool:
    """Run Flagger's rollback-hook reading: any hook answering 2xx asks for a rollback now."""
    for result in tick.obs.hook_results(WebhookType.ROLLBACK):
        if result.passed:
            tick.warning(messages.rollback_check_passed(result.name))
            return True
        tick.normal(messages.rollback_not_signaled(result.name))
    return False


def _threshold_reason(tick: Tick) -> str:
    return f"failed checks threshold reached {tick.state.failed_checks}"


def _analysis_passed(tick: Tick) -> bool:
    """Pre-rollout hooks on the first tick, rollout hooks and metrics afterwards."""
    if is_first_analysis_tick(tick.state):
        tick.normal(messages.starting_analysis(tick.spec))
        return _pre_rollout_passed(tick)
    failures: list[str] = []
    refused = first_failure(tick.obs.hook_results(WebhookType.ROLLOUT))
    if refused is not None:
        failures.append(messages.halt_external_check(tick.spec, refused.name, refused.message))
    failures.extend(result.message for result in failed_results(tick.obs.metrics))
    if failures:
        count_failed_check(tick, failures)
        return False
    return True


def _pre_rollout_passed(tick: Tick) -> bool:
    results = tick.obs.hook_results(WebhookType.PRE_ROLLOUT)
    refused = first_failure(results)
    if refused is not None:
        detail = messages.halt_pre_rollout(tick.spec, refused.name, refused.message)
        count_failed_check(tick, [detail])
        return False
    for result in results:
        tick.normal(messages.check_passed(WebhookType.PRE_ROLLOUT, result.name))
    return True


def count_failed_check(tick: Tick, details: list[str]) -> None:
    """One failed check per tick however many checks failed; roll back at the threshold."""
    for detail in details:
        tick.warning(detail)
    tick.update(failed_checks=tick.state.failed_checks + 1)
    if tick.state.failed_checks >= tick.spec.analysis.threshold:
        rollback(tick, _threshold_reason(tick))
    else:
        tick.log = (
            f"{tick.spec.key}: failed check {tick.state.failed_checks}"
            f"/{tick.spec.analysis.threshold}"
        )
