"""`gitbot status`: each canary's phase, weight, failed checks and events, as JSON or a table.

Called by the CLI. The JSON shape is part of CONTRACT.md; the table mimics
`kubectl get canaries` (NAMESPACE, NAME, STATUS, WEIGHT, FAILEDCHECKS, LASTTRANSITIONTIME).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitbot.adapters.specs import load_repository
from gitbot.core.state import RolloutState

if TYPE_CHECKING:
    from gitbot.wiring import App

COLUMNS = ("NAMESPACE", "NAME", "STATUS", "WEIGHT", "FAILEDCHECKS", "LASTTRANSITIONTIME")


def canary_statuses(app: App, name: str | None = None) -> list[dict[str, Any]]:
    """Status objects of every canary in the repository (or the one named)."""
    app.workspace.sync()
    specs = load_repository(app.workspace.root, cluster=app.settings.flux.cluster,
                            remote_bases=app.settings.security.remote_bases)
    out = []
    for canary in sorted(specs.canaries, key=lambda c: c.key):
        if name and name not in (canary.key, canary.name):
            continue
        state = app.store.load(canary.key) or RolloutState()
        out.append(status_object(canary.name, canary.namespace, state))
    return out


def status_object(name: str, namespace: str, state: RolloutState) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "phase": state.phase.value,
        "canaryWeight": state.canary_weight,
        "failedChecks": state.failed_checks,
        "iterations": state.iterations,
        "lastTransitionTime": state.last_transition_time,
        "pullRequest": _pull_request(state),
        "events": [{"time": e.time, "type": e.type, "message": e.message} for e in state.events],
    }


def _pull_request(state: RolloutState) -> dict[str, Any] | None:
    """The PR in flight (pull-request mode), or None; `state` is open while gitbot tracks it."""
    ref = state.pull_request
    if ref is None or not ref.number:
        return None
    return {"number": ref.number, "url": ref.url, "action": ref.action, "state": "open"}


def _pr_cell(pr: dict[str, Any] | None) -> str:
    if not pr:
        return "<none>"
    return f"#{pr['number']} {pr['action']} {pr['url']}".rstrip()


def render_table(statuses: list[dict[str, Any]]) -> str:
    """The table; a PULLREQUEST column (`#12 promote URL`) when any canary has a PR open."""
    columns = COLUMNS + (("PULLREQUEST",) if any(s.get("pullRequest") for s in statuses) else ())
    rows = [columns] + [
        (
            s["namespace"], s["name"], s["phase"], str(s["canaryWeight"]),
            str(s["failedChecks"]), s["lastTransitionTime"] or "<none>",
        ) + ((_pr_cell(s.get("pullRequest")),) if len(columns) > len(COLUMNS) else ())
        for s in statuses
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
