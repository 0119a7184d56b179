"""`gitbot approve` / `gitbot reject NAMESPACE/NAME`: a person decides on a promotion that waits.

Called by the CLI. The decision is recorded on the state branch for the current rollout only.
`approve`: on its next tick gitbot treats it as a passing confirm-promotion gate (push mode) or
as an approval of the promotion PR (pull-request mode), and promotes. `reject`: in push mode the
next tick rolls back (a passing rollback check "gitbot reject"); in pull-request mode the
promotion PR is closed unmerged (on the local forge with the person's name), so the next tick
rolls back through a revert PR.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gitbot.adapters.forges import PRState, PullRequest
from gitbot.adapters.forges.local import LocalForge
from gitbot.core.state import Phase, RolloutState

if TYPE_CHECKING:
    from gitbot.wiring import App


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _waiting(app: App, key: str, verb: str) -> tuple[RolloutState | None, str]:
    app.workspace.sync()
    state = app.store.load(key)
    if state is None:
        return None, f"nothing waits for {verb}: no rollout state for {key}"
    if state.phase is not Phase.WAITING_PROMOTION:
        return None, f"nothing waits for {verb}: {key} is {state.phase.value}"
    return state, ""


def approve_promotion(app: App, key: str) -> tuple[bool, str]:
    """Record the approval; (False, why) when nothing waits."""
    state, why = _waiting(app, key, "approval")
    if state is None:
        return False, why
    app.store.approve(key, state.rollout_id, getpass.getuser(), _now())
    return True, (
        f"approved the promotion of {key} (rollout {state.rollout_id}); "
        "gitbot promotes on its next tick"
    )


def reject_promotion(app: App, key: str) -> tuple[bool, str]:
    """Refuse the waiting promotion; (False, why) when nothing waits."""
    state, why = _waiting(app, key, "a decision")
    if state is None:
        return False, why
    user = getpass.getuser()
    ref = state.pull_request
    driver = app.pull_requests
    if driver is not None and ref is not None and ref.number:
        pr = PullRequest(ref.number, ref.branch, app.settings.git.branch, ref.head,
                         PRState.OPEN, ref.url)
        reason = f"Rejected by {user} with `gitbot reject`; gitbot rolls back."
        if isinstance(driver.forge, LocalForge):
            driver.forge.reject(pr, user, reason)
        else:
            driver.forge.close(pr, reason)
        return True, (f"rejected the promotion of {key}: closed pull request #{ref.number}; "
                      "gitbot rolls back on its next tick")
    app.store.approve(key, state.rollout_id, user, _now(), decision="reject")
    return True, (
        f"rejected the promotion of {key} (rollout {state.rollout_id}); "
        "gitbot rolls back on its next tick"
    )
