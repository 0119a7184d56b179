"""Rollout state kept in Git, on a branch gitbot owns (default `gitbot/state`).

Flux follows `git.branch` only, so the state branch is outside its path. One JSON file per
canary, `canaries/<namespace>/<name>.json`. Every write is a commit pushed to the remote, so a
restarted gitbot (or one on a new machine) resumes exactly where the last one stopped.
Called by the reconciler, `gitbot status` and `gitbot approve`. A file that is not valid JSON or
not a valid state (hand-edited, truncated) is never an exception: `read` reports it as a problem,
and the reconciler rebuilds the state from the main branch's history.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol

from gitbot.core.jsonfields import StateFormatError
from gitbot.core.state import RolloutState
from gitbot.core.state_json import state_from_json, state_to_json

log = logging.getLogger("gitbot.state")


@dataclass(frozen=True)
class StoredState:
    """What the state branch holds for one canary: a state, nothing, or an unreadable file."""

    state: RolloutState | None
    problem: str = ""  # why the file could not be read ("" when it could, or is absent)


class BranchFiles(Protocol):
    """The part of `GitWorkspace` the store needs."""

    def read_branch_file(self, branch: str, path: str) -> str | None: ...

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str: ...


class GitStateStore:
    """Load and save `RolloutState` values on the state branch."""

    def __init__(self, files: BranchFiles, branch: str) -> None:
        self._files = files
        self._branch = branch

    @property
    def branch(self) -> str:
        return self._branch

    @staticmethod
    def path_for(key: str) -> str:
        namespace, name = key.split("/", 1)
        return f"canaries/{namespace}/{name}.json"

    def refresh(self, fetched: bool = False) -> None:
        """A pass begins: with a snapshot (`BranchSnapshot`), the branch is read once for it
        (`fetched`: the caller just fetched every branch)."""
        refresh = getattr(self._files, "refresh", None)
        if callable(refresh):
            refresh(fetched)

    def release(self) -> None:
        """The pass ended: reads are fresh again (another process may write meanwhile)."""
        release = getattr(self._files, "release", None)
        if callable(release):
            release()

    def read(self, key: str) -> StoredState:
        """The canary's stored state; an unreadable file gives `problem` naming file and cause."""
        path = self.path_for(key)
        text = self._files.read_branch_file(self._branch, path)
        if text is None:
            return StoredState(None)
        try:
            return StoredState(state_from_json(json.loads(text)))
        except json.JSONDecodeError as err:
            cause = f"line {err.lineno} column {err.colno}: not valid JSON ({err.msg})"
        except (StateFormatError, RecursionError) as err:
            cause = str(err) if isinstance(err, StateFormatError) else "nested too deeply"
        return StoredState(None, f"{self._branch}:{path}: {cause}")

    def load(self, key: str) -> RolloutState | None:
        """The stored state, or None when absent or unreadable (for status and approve)."""
        return self.read(key).state

    def approval(self, key: str) -> dict[str, str] | None:
        """The recorded `gitbot approve` for this canary: rollout, by, time (None if unreadable)."""
        path = self._approval_path(key)
        text = self._files.read_branch_file(self._branch, path)
        try:
            data = json.loads(text) if text else None
        except (json.JSONDecodeError, RecursionError):
            data = None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            if text:
                log.warning("%s:%s is not a valid approval record; ignored", self._branch, path)
            return None
        return dict(data)

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
        subject = f"{key}: {state.phase.value} weight {state.canary_weight}: {reason}"
        self._files.write_branch_file(self._branch, self.path_for(key), dump_state(state), subject)

    def save_many(self, states: list[tuple[str, RolloutState, str]]) -> None:
        """Several canaries' states (key, state, reason) in one commit on the state branch."""
        writer = getattr(self._files, "write_branch_files", None)
        if len(states) < 2 or not callable(writer):
            for key, state, reason in states:
                self.save(key, state, reason)
            return
        files = {self.path_for(key): dump_state(state) for key, state, _ in states}
        keys = ", ".join(key for key, _, _ in states[:3])
        more = f" and {len(states) - 3} more" if len(states) > 3 else ""
        writer(self._branch, files, f"state of {len(states)} canaries: {keys}{more}")


def dump_state(state: RolloutState) -> str:
    """The JSON text of a state file."""
    return json.dumps(state_to_json(state), indent=2, sort_keys=True) + "\n"
