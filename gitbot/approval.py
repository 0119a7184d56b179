"""`gitbot approve NAMESPACE/NAME`: a person approves a promotion that waits (local forge).

Called by the CLI. The approval is recorded on the state branch for the current rollout only;
on its next tick gitbot treats it as a passing confirm-promotion gate and promotes.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gitbot.core.state import Phase

if TYPE_CHECKING:
    from gitbot.wiring import App


def approve_promotion(app: App, key: str) -> tuple[bool, str]:
    """Record the approval; (False, why) when nothing waits."""
    app.workspace.sync()
    state = app.store.load(key)
    if state is None:
        return False, f"nothing waits for approval: no rollout state for {key}"
    if state.phase is not Phase.WAITING_PROMOTION:
        return False, f"nothing waits for approval: {key} is {state.phase.value}"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    app.store.approve(key, state.rollout_id, getpass.getuser(), now)
    return True, (
        f"approved the promotion of {key} (rollout {state.rollout_id}); "
        "gitbot promotes on its next tick"
    )
