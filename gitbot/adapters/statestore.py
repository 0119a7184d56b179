"""Rollout state kept in Git, on a branch gitbot owns (default `gitbot/state`).

Flux follows `git.branch` only, so the state branch is outside its path. One JSON file per
canary, `canaries/<namespace>/<name>.json`. Every write is a commit pushed to the remote, so a
restarted gitbot (or one on a new machine) resumes exactly where the last one stopped.
Called by the reconciler.
"""

from __future__ import annotations

import json
from typing import Protocol

from gitbot.core.state import RolloutState


class BranchFiles(Protocol):
    """The part of `GitWorkspace` the store needs."""

    def read_branch_file(self, branch: str, path: str) -> str | None: ...

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str: ...


class GitStateStore:
    """Load and save `RolloutState` values on the state branch."""

    def __init__(self, files: BranchFiles, branch: str) -> None:
        self._files = files
        self._branch = branch

    @staticmethod
    def path_for(key: str) -> str:
        namespace, name = key.split("/", 1)
        return f"canaries/{namespace}/{name}.json"

    def load(self, key: str) -> RolloutState | None:
        text = self._files.read_branch_file(self._branch, self.path_for(key))
        if text is None:
            return None
        return RolloutState.from_json(json.loads(text))

    def approval(self, key: str) -> dict[str, str] | None:
        """The recorded `gitbot approve` for this canary: rollout, by, time."""
        text = self._files.read_branch_file(self._branch, self._approval_path(key))
        return dict(json.loads(text)) if text else None

    def approve(
        self, key: str, rollout_id: str, by: str, time: str, decision: str = "approve"
    ) -> None:
        """Record `gitbot approve` (or, with decision "reject", `gitbot reject`) for a run."""
        record = {"rollout": rollout_id, "by": by, "time": time}
        if decision != "approve":
            record["decision"] = decision
        content = json.dumps(record, indent=2) + "\n"
        verb = "approved" if decision == "approve" else "rejected"
        subject = f"{key}: promotion of rollout {rollout_id} {verb} by {by}"
        self._files.write_branch_file(self._branch, self._approval_path(key), content, subject)

    @staticmethod
    def _approval_path(key: str) -> str:
        namespace, name = key.split("/", 1)
        return f"approvals/{namespace}/{name}.json"

    def save(self, key: str, state: RolloutState, reason: str) -> None:
        content = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
        subject = f"{key}: {state.phase.value} weight {state.canary_weight}: {reason}"
        self._files.write_branch_file(self._branch, self.path_for(key), content, subject)
