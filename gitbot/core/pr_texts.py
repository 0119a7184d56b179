"""Titles and bodies of gitbot's pull requests (pure; GitHub-flavoured Markdown).

Called by the pull-request driver's caller (the reconciler in pull-request mode). A traffic step
gets a short body: what, why, the tick's analysis. The promotion PR is the review: what changes
(before -> after), why, every analysis tick of the run as a table, Mermaid `xychart-beta` charts
of success rate and latency per tick, links to the run's step PRs/commits, and how to approve
or abort.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gitbot.core.commit_texts import commit_message
from gitbot.core.messages import go_float
from gitbot.core.spec import Canary, Metric
from gitbot.core.state import HookResult, MetricResult, RepoChange, RolloutState, TickRecord

__all__ = ["Delta", "Promotion", "StepLink", "TickRecord", "promotion_body",
           "promotion_title", "step_body", "step_title"]

SUCCESS_RATE = "request-success-rate"
LATENCY = "request-duration"
_UNITS = {SUCCESS_RATE: "%", LATENCY: "ms"}


@dataclass(frozen=True)
class Delta:
    """One thing the promotion changes in the primary, e.g. the image."""

    what: str  # "image of deployment/podinfo-primary (container podinfo)"
    before: str
    after: str


@dataclass(frozen=True)
class StepLink:
    """A step of the run that landed, with a link (PR number or URL, or a commit)."""

    step: int
    action: str
    weight: int
    ref: str  # "#12", a URL, or a commit sha


@dataclass(frozen=True)
class Promotion:
    """Everything the promotion PR body shows."""

    canary: Canary
    rollout_id: str
    deltas: tuple[Delta, ...]
    ticks: tuple[TickRecord, ...]
    steps: tuple[StepLink, ...] = ()
    approvals: int = 1


def step_title(canary: Canary, change: RepoChange) -> str:
    """The commit subject, e.g. `podinfo.test: advance canary weight 20`."""
    return f"{canary.dotted}: {change.subject}"


def step_body(
    canary: Canary, change: RepoChange, state: RolloutState, tick: TickRecord | None
) -> str:
    """Short: what, why (the commit body's explanation and facts), this tick's analysis."""
    _subject, why, _trailers = commit_message(canary, change, state)
    parts = [f"**What:** {change.subject} for `{canary.key}`.", f"**Why:**\n\n{why}"]
    if tick is not None and (tick.metrics or tick.hooks):
        parts.append("**Analysis (this tick):**\n\n" + _tick_list(canary, tick))
    parts.append(_footer(change.action))
    return "\n\n".join(parts) + "\n"


def promotion_title(canary: Canary) -> str:
    return f"{canary.dotted}: promote canary to primary (review)"


def promotion_body(promotion: Promotion) -> str:
    canary = promotion.canary
    sections = [
        f"gitbot proposes to promote `{canary.key}` (rollout `{promotion.rollout_id}`): the "
        f"canary passed {len(promotion.ticks)} analysis tick"
        f"{'s' if len(promotion.ticks) != 1 else ''} and is ready to become the primary.",
        "## What changes\n\n" + _deltas(promotion.deltas),
        "## Why\n\n" + _why(promotion),
        "## Analysis of this run\n\n" + _tick_table(canary, promotion.ticks),
        "## Success rate and latency per step\n\n" + _charts(promotion.ticks),
        "## Steps of this run\n\n" + _steps(promotion.steps),
        "## How to decide\n\n" + _instructions(canary, promotion.approvals),
    ]
    return "\n\n".join(sections) + "\n"


# --- pieces --------------------------------------------------------------------------------


def _footer(action: str) -> str:
    if action == "rollback":
        return "_A rollback is urgent: gitbot merges this pull request at once._"
    return ("_gitbot merges this pull request itself once it is mergeable and its required "
            "checks are green._")


def _value(result: MetricResult) -> str:
    if result.value is None:
        return "no data"
    return f"{result.value:.2f}{_UNITS.get(result.name, '')}"


def _bounds(metric: Metric | None, name: str) -> str:
    if metric is None:
        return ""
    unit = _UNITS.get(name, "")
    low, high = metric.threshold_range.min, metric.threshold_range.max
    if low is not None and high is not None:
        return f"{go_float(low)}{unit} .. {go_float(high)}{unit}"
    if low is not None:
        return f">= {go_float(low)}{unit}"
    if high is not None:
        return f"<= {go_float(high)}{unit}"
    return ""


def _tick_list(canary: Canary, tick: TickRecord) -> str:
    metrics = {m.name: m for m in canary.analysis.metrics}
    lines = []
    for result in tick.metrics:
        bounds = _bounds(metrics.get(result.name), result.name)
        limit = f" (threshold {bounds})" if bounds else ""
        verdict = "passed" if result.passed else "failed"
        lines.append(f"- {result.name}: {_value(result)}{limit}: {verdict}")
    lines += [f"- webhook {h.name} ({h.type.value}): {_hook(h)}" for h in tick.hooks]
    return "\n".join(lines)


def _hook(hook: HookResult) -> str:
    status = str(hook.status) if hook.status is not None else "no response"
    return f"{'passed' if hook.passed else 'failed'} ({status})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tick_table(canary: Canary, ticks: Sequence[TickRecord]) -> str:
    if not ticks:
        return "No analysis tick was recorded for this run."
    names = [m.name for m in canary.analysis.metrics]
    metrics = {m.name: m for m in canary.analysis.metrics}
    header = ["Time", "Weight"]
    for name in names:
        bounds = _bounds(metrics[name], name)
        header.append(f"{name} ({bounds})" if bounds else name)
    header += ["Webhooks", "Result"]
    rows = ["| " + " | ".join(_cell(h) for h in header) + " |",
            "|" + "---|" * len(header)]
    for tick in ticks:
        results = {r.name: r for r in tick.metrics}
        cells = [tick.time, f"{tick.weight}%"]
        for name in names:
            result = results.get(name)
            cells.append("—" if result is None else
                         f"{_value(result)} {'✅' if result.passed else '❌'}")
        hooks = ", ".join(f"{h.name}: {_hook(h)}" for h in tick.hooks) or "—"
        passed = all(r.passed for r in tick.metrics) and all(h.passed for h in tick.hooks)
        cells += [hooks, "pass" if passed else "fail"]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def _chart(title: str, unit: str, points: list[tuple[str, float]], floor_zero: bool) -> str:
    values = [v for _label, v in points]
    low = 0.0 if floor_zero else math.floor(min(values) - 1)
    high = math.ceil(max(values) * 1.1 + 1) if floor_zero else 100.0
    labels = ", ".join(f'"{label}"' for label, _v in points)
    return "\n".join([
        "```mermaid",
        "xychart-beta",
        f'    title "{title}"',
        f"    x-axis [{labels}]",
        f'    y-axis "{unit}" {go_float(max(low, 0.0))} --> {go_float(high)}',
        f"    line [{', '.join(f'{v:.2f}' for v in values)}]",
        "```",
    ])


def _series(ticks: Sequence[TickRecord], name: str) -> list[tuple[str, float]]:
    points = []
    for index, tick in enumerate(ticks, start=1):
        for result in tick.metrics:
            if result.name == name and result.value is not None:
                points.append((f"{index}: {tick.weight}%", result.value))
    return points


def _charts(ticks: Sequence[TickRecord]) -> str:
    charts = []
    rate = _series(ticks, SUCCESS_RATE)
    if rate:
        charts.append(_chart("Success rate per step (%)", "%", rate, floor_zero=False))
    latency = _series(ticks, LATENCY)
    if latency:
        charts.append(_chart("Latency per step (ms)", "ms", latency, floor_zero=True))
    if not charts:
        return "This analysis has no request-success-rate or request-duration metric to chart."
    return "\n\n".join(charts)


def _deltas(deltas: Sequence[Delta]) -> str:
    if not deltas:
        return "The primary already matches the canary (nothing but the rollout record changes)."
    rows = ["| What | Before | After |", "|---|---|---|"]
    rows += [f"| {_cell(d.what)} | `{_cell(d.before)}` | `{_cell(d.after)}` |" for d in deltas]
    return "\n".join(rows)


def _why(promotion: Promotion) -> str:
    ticks = promotion.ticks
    failed = sum(1 for t in ticks if not all(r.passed for r in t.metrics))
    top = max((t.weight for t in ticks), default=0)
    return (f"The canary took up to {top}% of the traffic over {len(ticks)} analysis "
            f"tick{'s' if len(ticks) != 1 else ''}; {failed} of them failed a check "
            f"(the run rolls back after {promotion.canary.analysis.threshold} failed checks). "
            "Promotion waits for people because `pullRequests.review` lists `promote`.")


def _steps(steps: Sequence[StepLink]) -> str:
    if not steps:
        return "No earlier step of this run landed."
    return "\n".join(f"- step {s.step}: {s.action} (weight {s.weight}%): {s.ref}" for s in steps)


def _instructions(canary: Canary, approvals: int) -> str:
    plural = "s" if approvals != 1 else ""
    return "\n".join([
        "To **approve** the promotion, do one of:",
        f"- approve this pull request ({approvals} approving review{plural} from people "
        "other than gitbot's account),",
        "- comment `/gitbot promote` (needs write access to this repository),",
        f"- run `gitbot approve {canary.key}`.",
        "",
        "To **abort** (the run rolls back to the primary), do one of:",
        "- comment `/gitbot abort`,",
        "- close this pull request without merging,",
        f"- run `gitbot reject {canary.key}`.",
        "",
        "`/gitbot pause` and `/gitbot resume` suspend and resume the analysis of this canary. "
        "While this pull request waits the analysis keeps running; a failing check closes it "
        "and rolls back.",
    ])
