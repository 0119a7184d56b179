"""Pull-request mode: the title and body of the PR for one change.

Called by `gitbot.landing_pr.PullRequestLanding` when it proposes a change: a short body for a
traffic step (what, why, the tick's analysis), the full review for a promotion that waits for
people (what changes, every analysis tick of the run, charts, the run's merged step PRs, how to
approve or abort). The texts themselves are pure (`gitbot.core.pr_texts`); this module reads the
run's merged commits from the working copy.
"""

from __future__ import annotations

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.manifest_types import FieldChange
from gitbot.core import pr_texts
from gitbot.core.spec import Canary
from gitbot.core.state import RepoChange, RolloutState
from gitbot.history import run_commits, trailer


def pr_texts_for(
    ws: GitWorkspace, canary: Canary, state: RolloutState, change: RepoChange,
    edits: list[FieldChange], *, review: bool, approvals: int,
) -> tuple[str, str]:
    """(title, body); `review`: the change waits for people (the promotion's full body)."""
    if not review or change.action != "promote":
        tick = state.ticks[-1] if state.ticks else None
        return (pr_texts.step_title(canary, change),
                pr_texts.step_body(canary, change, state, tick))
    promotion = pr_texts.Promotion(
        canary=canary, rollout_id=state.rollout_id, deltas=_deltas(edits),
        ticks=state.ticks, steps=_steps(ws, canary, state), approvals=approvals,
    )
    return pr_texts.promotion_title(canary), pr_texts.promotion_body(promotion)


def _steps(ws: GitWorkspace, canary: Canary, state: RolloutState
           ) -> tuple[pr_texts.StepLink, ...]:
    """The run's merged steps (not the change being proposed, committed locally)."""
    links = []
    for commit in reversed(run_commits(ws.log(max_count=300), canary.key)):
        step = trailer(commit, "Gitbot-Step")
        if step == str(state.step):
            continue
        weight = trailer(commit, "Gitbot-Weight")
        links.append(pr_texts.StepLink(
            int(step) if step.isdigit() else 0, trailer(commit, "Gitbot-Action"),
            int(weight) if weight.isdigit() else 0,
            _pr_number(commit.subject) or commit.sha[:12]))
    return tuple(links)


def _pr_number(subject: str) -> str:
    """`#12` from a merge subject `... (#12)`, else ""."""
    if subject.endswith(")") and "(#" in subject:
        number = subject.rsplit("(#", 1)[1][:-1]
        return f"#{number}" if number.isdigit() else ""
    return ""


def _deltas(edits: list[FieldChange], most: int = 12) -> tuple[pr_texts.Delta, ...]:
    return tuple(
        pr_texts.Delta(f"{e.kind.lower()}/{e.name} {e.field}".strip(), _short(e.old),
                       _short(e.new))
        for e in edits[:most]
    )


def _short(value: object, most: int = 80) -> str:
    text = "(none)" if value is None else str(value)
    return text if len(text) <= most else text[: most - 3] + "..."
