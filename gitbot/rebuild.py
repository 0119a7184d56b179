"""Load a canary's state for the reconciler, rebuilding it from Git history when it is lost.

Called by `Reconciler.tick` first thing. A stored state is used as it is. When there is none
(state branch deleted, file removed) or it cannot be read (not JSON, unknown phase, wrong types,
missing fields), gitbot's commits for the canary on the main branch and the manifests decide
(`gitbot.core.recovery`): the rebuilt state is saved at once and announced with one Warning event
naming the commit it was rebuilt from, so the problem is reported once. A run that cannot be
proven comes back as a rollback decision for the reconciler to carry out.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.statestore import GitStateStore
from gitbot.core import recovery
from gitbot.core.decide_tick import rfc3339
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, Event, RolloutState
from gitbot.errors import InvalidInputError
from gitbot.history import LogSource, gitbot_commits
from gitbot.notify import Announcer

log = logging.getLogger("gitbot.reconciler")


class Workspace(LogSource, Protocol):
    """The part of `GitWorkspace` rebuilding needs: its history and its working tree."""

    @property
    def root(self) -> Path: ...


def rebuild_state(
    ws: Workspace, store: GitStateStore, announcer: Announcer, canary: Canary, now: datetime,
    cluster: str | None = None,
) -> tuple[RolloutState, Decision | None]:
    """(state to tick from, None), or (state before, rollback decision) for an unproven run.

    `cluster`: the Flux cluster directory served; another cluster's commits are not this
    canary's history."""
    stored = store.read(canary.key)
    if stored.state is not None:
        return stored.state, None
    cause = stored.problem or f"no state on {store.branch}"
    commits = gitbot_commits(ws, canary.key, cluster)
    found = recovery.recover(canary, commits, manifest_facts(ws.root, canary)) if commits else None
    if found is None:
        if not stored.problem:
            return RolloutState(), None  # a canary gitbot has never touched
        event = Event(rfc3339(now), "Warning", recovery.lost_without_history(canary, cause))
        decision = Decision(RolloutState().with_events(event), events=(event,))
    else:
        decision = recovery.recovery_decision(canary, found, cause, now)
    log.warning("%s: %s", canary.key, decision.events[0].message)
    if decision.change is not None:
        return RolloutState(), decision
    store.save(canary.key, decision.state, "state rebuilt: " + cause)
    announcer.announce(canary, decision.state, decision, "", "")
    return decision.state, None


def manifest_facts(root: Path, canary: Canary) -> recovery.ManifestFacts:
    """What the working copy declares for the canary: weights, replicas, promoted template."""
    editor = ManifestEditor(root)
    return recovery.ManifestFacts(
        traffic=editor.get_traffic(canary),
        target_replicas=editor.get_replicas(canary.namespace, canary.target.name),
        primary_is_target=_primary_is_target(root, canary),
        target_revision=editor.target_revision(canary),
    )


def _primary_is_target(root: Path, canary: Canary) -> bool:
    """True when promoting the target now would change nothing (nothing is saved)."""
    try:
        return not ManifestEditor(root).promote(canary)
    except InvalidInputError:  # no target or no primary
        return False
