"""Commit messages of a rollout: subject, explanation, facts and `Gitbot-*` trailers, and the
subjects and bodies of rollback commits (one revert, or values gitbot wrote itself).

Pure functions of the canary, the change and the decided state, so each text is testable as a
golden string. Called by gitbot/landing.py (every commit gitbot lands) and
gitbot/core/pr_texts.py (a pull request's description reuses the commit's explanation).
"""

from __future__ import annotations

import enum
import textwrap

from gitbot.core.messages import Trailers
from gitbot.core.spec import Canary, Strategy
from gitbot.core.state import RepoChange, RolloutState

_WHY = {
    "initialize": "Generate {primary}, the Services, DestinationRules and VirtualService for "
    "{dotted}, route all traffic to the primary and scale {target} to 0.",
    "initialize-primary": "Generate {primary} from the effective {target} and nothing else: "
    "traffic moves to it only once the cluster reports it ready.",
    "update-routing": "The Canary's service or route fields changed; bring the generated "
    "Services, DestinationRules and VirtualService in line (weights unchanged).",
    "scale-up": "New revision of {target} detected; scale the canary up to {replicas} "
    "to start the analysis.",
    "restart": "A new revision of {target} arrived during the analysis; route all traffic "
    "back to the primary and restart the analysis.",
    "mirror": "Analysis passed; mirror traffic to the canary before any live traffic moves.",
    "advance": "Analysis passed; route {weight}% of traffic to the canary (primary {primary_w}%).",
    "route-to-canary": "Route {scope} to the canary.",
    "promote": "Analysis completed; copy the {target} pod template into {primary}.",
    "advance-primary": "Promotion in progress; route {primary_w}% of traffic to the primary.",
    "route-to-primary": "{primary} runs the promoted revision; route all traffic to it.",
    "scale-down": "Promotion finished; scale the canary {target} down to 0.",
    "rollback": "Canary analysis failed; revert this rollout's commits, route all traffic "
    "to the primary and scale {target} to 0.",
}


def _scope(canary: Canary, change: RepoChange) -> str:
    if change.reason:
        return "all traffic (the primary is not ready)"
    if canary.strategy is Strategy.AB_TESTING:
        return "requests matching the A/B conditions"
    return "all traffic"


def _explanation(canary: Canary, change: RepoChange, state: RolloutState) -> str:
    traffic = change.traffic or state.traffic
    template = _WHY.get(change.action, "{action}.")
    return template.format(
        action=change.action,
        dotted=canary.dotted,
        target=canary.target.name,
        primary=canary.primary_name,
        replicas=_replicas(change.target_replicas),
        weight=traffic.canary_weight,
        primary_w=traffic.primary_weight,
        scope=_scope(canary, change),
    )


def _replicas(count: int | None) -> str:
    return "1 replica" if count == 1 else f"{count} replicas"


def _weight(change: RepoChange, state: RolloutState) -> int:
    return (change.traffic or state.traffic).canary_weight


def commit_message(
    canary: Canary, change: RepoChange, state: RolloutState
) -> tuple[str, str, Trailers]:
    """(subject, body, trailers) of the commit for `change`; `state` is the decided state."""
    subject = f"{canary.dotted}: {change.subject}"
    facts = [
        f"Phase: {state.phase.value}",
        f"Canary weight: {_weight(change, state)}",
        f"Failed checks: {state.failed_checks}/{canary.analysis.threshold}",
    ]
    if canary.strategy is not Strategy.CANARY:
        facts.append(f"Iterations: {state.iterations}/{canary.analysis.iterations}")
    if change.reason:
        facts.append(f"Reason: {change.reason}")
    why = textwrap.fill(_explanation(canary, change, state), width=72)
    body = why + "\n\n" + "\n".join(facts)
    trailers = (
        ("Gitbot-Canary", canary.key),
        ("Gitbot-Action", change.action),
        ("Gitbot-Rollout", state.rollout_id or "none"),
        ("Gitbot-Revision", state.last_applied_spec),
        ("Gitbot-Weight", str(_weight(change, state))),
        ("Gitbot-Step", str(state.step)),
    )
    return subject, body, trailers


def rollback_subject(canary: Canary, n_commits: int, reason: str) -> str:
    """`podinfo.test: rollback: revert 7 commits (failed checks threshold reached 5)`."""
    noun = "commit" if n_commits == 1 else "commits"
    return f"{canary.dotted}: rollback: revert {n_commits} {noun} ({reason})"


class RevertOutcome(enum.Enum):
    """How the revert of a run's commits went, when a rollback also had to write values."""

    REVERTED = "after reverting {n} {noun}"  # a follow-up commit completed the revert
    CONFLICTED = "revert of {n} {noun} conflicted"
    CHANGED_NOTHING = "reverting {n} {noun} changed nothing"
    NOTHING_TO_REVERT = "no commit of this run to revert"

    @property
    def listing(self) -> str:
        """The title of the commit list in the body."""
        if self is RevertOutcome.CONFLICTED:
            return "Not reverted (the revert conflicted):"
        return "Reverted:" if self is RevertOutcome.REVERTED else "Run commits:"


_WRITTEN_WHY = {
    RevertOutcome.REVERTED: "Rolling back: this rollout's commits were reverted and "
    "this commit sets what the revert left out: {what}.",
    RevertOutcome.CONFLICTED: "Rolling back: reverting this rollout's {n} {noun} "
    "conflicted with later changes, so gitbot wrote the rollback directly: {what}. The "
    "commits it could not revert are listed below.",
    RevertOutcome.CHANGED_NOTHING: "Rolling back: reverting this rollout's {n} {noun} "
    "changed nothing, so gitbot wrote the rollback directly: {what}.",
    RevertOutcome.NOTHING_TO_REVERT: "Rolling back: no commit of this rollout "
    "was found to revert, so gitbot wrote the rollback directly: {what}.",
}


def rollback_written(
    canary: Canary, change: RepoChange, state: RolloutState, n_commits: int,
    outcome: RevertOutcome,
) -> tuple[str, str, Trailers]:
    """The commit of a rollback whose values gitbot wrote itself instead of by one revert:
    `podinfo.test: rollback: set traffic 100/0 and scale canary to 0 (revert of 5 commits
    conflicted)`. The reconciler appends the written changes to the body."""
    _, body, trailers = commit_message(canary, change, state)
    traffic = change.traffic or state.traffic
    values = f"set traffic {traffic.primary_weight}/{traffic.canary_weight}"
    if change.target_replicas is not None:
        values += f" and scale canary to {change.target_replicas}"
    noun = "commit" if n_commits == 1 else "commits"
    why = outcome.value.format(n=n_commits, noun=noun)
    what = (
        f"all traffic to {canary.primary_name} ({traffic.primary_weight}/"
        f"{traffic.canary_weight}) and {canary.target.name} scaled to {change.target_replicas}"
    )
    intro = _WRITTEN_WHY[outcome].format(n=n_commits, noun=noun, what=what)
    facts = body.split("\n\n", 1)[1]
    body = textwrap.fill(intro, width=72, break_on_hyphens=False) + "\n\n" + facts
    return f"{canary.dotted}: rollback: {values} ({why})", body, trailers


def format_commit(subject: str, body: str, trailers: Trailers) -> str:
    """The full commit message: subject, blank line, body, blank line, trailers."""
    lines = "\n".join(f"{key}: {value}" for key, value in trailers)
    parts = [subject, body.strip(), lines] if body.strip() else [subject, lines]
    return "\n\n".join(p for p in parts if p) + "\n"
