"""Every user-visible text of a rollout: events, alerts and alert fields.

Pure functions of the canary and the decision, so each text is testable as a golden string.
Event texts keep Flagger's exact wording (people grep for them and alert on them); Go's `%v`
formatting of numbers and durations is reproduced by `go_float` and `go_duration_ms`.
Called by `gitbot.core.decide*`, `gitbot.core.strategies`, `gitbot.core.analysis`, and by the
reconciler and notifiers for alert fields. Commit messages are in gitbot/core/commit_texts.py.
"""

from __future__ import annotations

import math
from decimal import Decimal

from gitbot.core.spec import Canary, Strategy, WebhookType
from gitbot.core.weights import max_weight

Trailers = tuple[tuple[str, str], ...]


# --- Go formatting -------------------------------------------------------------------------


def go_float(value: float) -> str:
    """Go's `%v` for a float64: shortest digits, exponent form below 1e-4 or from 1e6 (`%g`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digit_tuple, exp = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exp, int)
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + exp  # position of the decimal point relative to the digits
    prefix = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def go_duration_ms(milliseconds: int) -> str:
    """Go's `time.Duration.String()` for a whole number of milliseconds (`512ms`, `1.5s`)."""
    if milliseconds == 0:
        return "0s"
    sign = "-" if milliseconds < 0 else ""
    ms = abs(milliseconds)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".")
    text = f"{seconds}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


# --- names ---------------------------------------------------------------------------------


def target_dotted(canary: Canary) -> str:
    """`<target>.<namespace>`, the form Flagger uses in target-related events."""
    return f"{canary.target.name}.{canary.namespace}"


def primary_dotted(canary: Canary) -> str:
    return f"{canary.primary_name}.{canary.namespace}"


# --- events (Flagger's wording) ------------------------------------------------------------

SUSPENDED = "skipping canary run as object is suspended"
ROUTE_ALL_TO_PRIMARY = "Routing all traffic to primary"
ROUTE_ALL_TO_CANARY = "Routing all traffic to canary"
STOP_MIRROR_ROUTE_TO_CANARY = "Stop traffic mirroring and route all traffic to canary"


def initialization_done(canary: Canary) -> str:
    return f"Initialization done! {canary.dotted}"


def new_revision(canary: Canary) -> str:
    return f"New revision detected! Scaling up {target_dotted(canary)}"


def restarting_analysis(canary: Canary) -> str:
    return f"New revision detected! Restarting analysis for {target_dotted(canary)}"


def starting_analysis(canary: Canary) -> str:
    return f"Starting canary analysis for {target_dotted(canary)}"


def check_passed(kind: WebhookType, hook: str) -> str:
    """`Pre-rollout check <h> passed`, `Confirm-promotion check <h> passed`, ..."""
    return f"{kind.value.capitalize()} check {hook} passed"


def advance_weight(canary: Canary, weight: int) -> str:
    return f"Advance {canary.dotted} canary weight {weight}"


def advance_iteration(canary: Canary, iteration: int, total: int) -> str:
    return f"Advance {canary.dotted} canary iteration {iteration}/{total}"


def advance_primary(canary: Canary, weight: int) -> str:
    return f"Advance {canary.dotted} primary weight {weight}"


def copying_template(canary: Canary) -> str:
    return f"Copying {target_dotted(canary)} template spec to {primary_dotted(canary)}"


def promotion_completed(canary: Canary) -> str:
    return f"Promotion completed! Scaling down {target_dotted(canary)}"


def promotion_skipped(canary: Canary) -> str:
    return f"Promotion completed! Canary analysis was skipped for {target_dotted(canary)}"


def rollback_not_signaled(hook: str) -> str:
    return f"Rollback hook {hook} not signaling a rollback"


def rollback_check_passed(hook: str) -> str:
    return f"Rollback check {hook} passed"


def halt_external_check(canary: Canary, hook: str, detail: str) -> str:
    return f"Halt {canary.dotted} advancement external check {hook} failed {detail}"


def halt_pre_rollout(canary: Canary, hook: str, detail: str) -> str:
    return f"Halt {canary.dotted} advancement pre-rollout check {hook} failed {detail}"


def halt_waiting_approval(canary: Canary, hook: str) -> str:
    return f"Halt {canary.dotted} advancement waiting for approval {hook}"


def halt_waiting_promotion(canary: Canary, hook: str) -> str:
    return f"Halt {canary.dotted} advancement waiting for promotion approval {hook}"


def halt_waiting_traffic(canary: Canary, hook: str) -> str:
    return f"Halt {canary.dotted} advancement waiting for traffic increase approval {hook}"


def rolling_back_threshold(canary: Canary, failed_checks: int) -> str:
    return f"Rolling back {canary.dotted} failed checks threshold reached {failed_checks}"


def rolling_back_manual(canary: Canary) -> str:
    return f"Rolling back {canary.dotted} manual webhook invoked"


def rolling_back_deadline(canary: Canary, detail: str) -> str:
    return f"Rolling back {canary.dotted} progress deadline exceeded {detail}"


def canary_failed(canary: Canary) -> str:
    return f"Canary failed! Scaling down {canary.dotted}"


def promotion_failed(canary: Canary, detail: str) -> str:
    return f"Promotion of {target_dotted(canary)} failed, primary not ready: {detail}"


# --- metric check events (used by gitbot.core.analysis) -----------------------------------


def halt_success_rate(canary: Canary, value: float, op: str, bound: float) -> str:
    return f"Halt {canary.dotted} advancement success rate {value:.2f}% {op} {go_float(bound)}%"


def halt_request_duration(canary: Canary, value_ms: int, op: str, bound_ms: int) -> str:
    return (
        f"Halt {canary.dotted} advancement request duration "
        f"{go_duration_ms(value_ms)} {op} {go_duration_ms(bound_ms)}"
    )


def halt_custom_metric(canary: Canary, name: str, value: float, op: str, bound: float) -> str:
    return f"Halt {canary.dotted} advancement {name} {value:.2f} {op} {go_float(bound)}"


def no_values_builtin(canary: Canary, metric: str) -> str:
    return (
        f"Halt advancement no values found for {canary.provider} metric {metric} "
        f"probably {target_dotted(canary)} is not receiving traffic: no values found"
    )


def no_values_custom(metric: str) -> str:
    return f"Halt advancement no values found for custom metric: {metric}: no values found"


def no_values_inline(metric: str) -> str:
    return f"Halt advancement no values found for metric: {metric}"


def metric_query_failed(metric: str, error: str) -> str:
    return f"Metric query failed for {metric}: {error}"


# --- alerts (Flagger's wording, section 7.4) -----------------------------------------------

ALERT_RUN_STARTED = "New revision detected, progressing canary analysis."
ALERT_WAITING_APPROVAL = "Canary is waiting for approval."
ALERT_WAITING_TRAFFIC = "Canary traffic increase is waiting for approval."
ALERT_WAITING_PROMOTION = "Canary promotion is waiting for approval."
ALERT_MANUAL_ROLLBACK = "Rolling back manual webhook invoked"
ALERT_SUCCEEDED = "Canary analysis completed successfully, promotion finished."
ALERT_SKIPPED = "Canary analysis was skipped, promotion finished."


def alert_initialized(canary: Canary) -> str:
    return f"New {canary.target.kind or 'Deployment'} detected, initialization completed."


def alert_threshold(failed_checks: int) -> str:
    return f"Failed checks threshold reached {failed_checks}"


def alert_deadline(detail: str) -> str:
    return f"Progress deadline exceeded {detail}"


def alert_promotion_failed(detail: str) -> str:
    return f"Promotion failed, primary not ready: {detail}"


def traffic_routing(canary: Canary) -> str:
    """The `Traffic routing` alert field, as Flagger's `alertMetadata`."""
    analysis = canary.analysis
    strategy = canary.strategy
    if strategy is Strategy.AB_TESTING:
        return "A/B Testing"
    if strategy is Strategy.BLUE_GREEN:
        return "Blue/Green"
    if analysis.step_weights and analysis.step_weight <= 0:
        steps = ",".join(str(w) for w in analysis.step_weights)
        return f"Weight steps: {steps} max: {max_weight(analysis)}"
    return f"Weight step: {analysis.step_weight} max: {max_weight(analysis)}"


def alert_metadata(canary: Canary, cluster: str = "") -> Trailers:
    """The ordered (title, value) fields attached to alerts sent `with_metadata`."""
    fields = [
        ("Target", f"{canary.target.kind or 'Deployment'}/{target_dotted(canary)}"),
        ("Failed checks threshold", str(canary.analysis.threshold)),
        ("Progress deadline", f"{canary.progress_deadline_seconds}s"),
        ("Traffic routing", traffic_routing(canary)),
    ]
    if cluster:
        fields.append(("Cluster", cluster))
    return tuple(fields)
