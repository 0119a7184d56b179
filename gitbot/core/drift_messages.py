"""The texts of drift detection: events, chat messages and the rollback reason.

Pure functions, tested as golden strings. Called by `gitbot.core.drift_decide` (the findings'
own texts are in `gitbot.core.drift`). Events keep Flagger's shapes (`Halt <name>.<ns>
advancement ...`, `Rolling back <name>.<ns> ...`) so people's greps and alerts keep working.
"""

from __future__ import annotations

from gitbot.core.drift import Action, Drift, PersonCommit
from gitbot.core.spec import Canary

SHORT = 12  # as the chat's "Committed <sha>" line


# --- parts --------------------------------------------------------------------------------


def findings_text(drift: Drift) -> str:
    return "; ".join(f.detail for f in drift.findings)


def culprit_text(culprit: PersonCommit | None) -> str:
    if culprit is None:
        return "an unknown commit"
    return f'{culprit.sha[:SHORT]} "{culprit.subject}" by {culprit.author}'


# --- events --------------------------------------------------------------------------------


def drift_event(canary: Canary, drift: Drift) -> str:
    what, who = findings_text(drift), culprit_text(drift.culprit)
    if drift.action is Action.ROLLBACK:
        return f"Rolling back {canary.dotted} canary without replicas carries traffic: {what}; " \
            f"changed in {who}"
    if drift.action is Action.ROLLED_BACK:
        return f"Rolling back {canary.dotted} manual change: {what}; changed in {who}"
    return f"Halt {canary.dotted} advancement: {what}; changed in {who}; " \
        "gitbot will not overwrite it"


def resumed_event(canary: Canary) -> str:
    return f"Resuming {canary.dotted} advancement: the values gitbot manages match its state again"


# --- chat ----------------------------------------------------------------------------------


def drift_chat(canary: Canary, drift: Drift) -> str:
    culprit = drift.culprit
    if culprit is None:
        commit = "A commit gitbot could not find"
    else:
        commit = f'Commit {culprit.sha[:SHORT]} "{culprit.subject}" by {culprit.author}'
    did = {
        Action.HALT: "gitbot halted the rollout: no commit and no analysis until the values "
        "match its state again; it will not overwrite the change. Put the values back to "
        "resume, or route all traffic to the primary to roll back.",
        Action.ROLLED_BACK: "gitbot treats this as a manual rollback: the run is Failed; "
        "gitbot made no commit and keeps the change.",
        Action.ROLLBACK: "gitbot rolls back now: all traffic to the primary, the canary at "
        "0 replicas.",
    }[drift.action]
    return "\n".join([
        f"{canary.dotted}: a person changed what gitbot manages during the rollout.",
        f"{commit}: {findings_text(drift)}.",
        did,
    ])


def resumed_chat(canary: Canary) -> str:
    return f"{canary.dotted}: the values gitbot manages match its state again; the rollout " \
        "resumes."


def rollback_reason(drift: Drift) -> str:
    """For the rollback commit's subject: short, one line."""
    culprit = drift.culprit
    who = f" since {culprit.sha[:SHORT]} by {culprit.author}" if culprit else ""
    return f"canary at 0 replicas carries traffic{who}"
