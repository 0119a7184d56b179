"""The local forge: pull requests on any Git remote, with gitbot's own records.

A "pull request" is a branch on the remote plus a JSON record on the state branch
(`pull-requests/<branch>.json`: number, base, title, body, labels, state, reviews, comments,
statuses). gitbot merges it itself with real `git` (`ScratchMerger`). People decide with
`gitbot approve` / `gitbot reject` (recorded here as a review or a close by that person), or by
deleting the PR branch on the remote (= closed unmerged). Built by `make_forge`; called by the
pull-request driver.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from gitbot.adapters.forges.base import (
    STATUS_CONTEXT,
    Checks,
    Comment,
    MergeResult,
    PRState,
    PullRequest,
    Review,
    combine_checks,
)
from gitbot.adapters.forges.local_merge import ScratchMerger
from gitbot.adapters.statestore import BranchFiles
from gitbot.errors import GitbotError, NeedsHumanError

_DIR = "pull-requests"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalForge:
    """Pull requests kept on the state branch; merges done with git."""

    kind = "local"

    def __init__(
        self,
        files: BranchFiles,
        state_branch: str,
        merger: ScratchMerger,
        *,
        user: str = "gitbot",
        clock: Callable[[], str] = _now,
    ) -> None:
        self._files = files
        self._branch = state_branch
        self._merger = merger
        self._user = user
        self._clock = clock

    # --- the Forge interface ----------------------------------------------------------------

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        head = self._merger.head(branch)
        if head is None:
            raise GitbotError(f"cannot open a pull request: branch {branch} is not on the remote")
        existing = self._load(branch)
        if existing is not None and existing["state"] != PRState.CLOSED.value:
            return self._view(existing)  # one PR per gitbot branch: never a duplicate
        number = self._next_number()
        record: dict[str, Any] = {
            "number": number, "branch": branch, "base": base, "title": title, "body": body,
            "labels": list(labels), "state": PRState.OPEN.value, "head_sha": head,
            "author": self._user, "created": self._clock(), "merged_sha": "",
            "closed_by": "", "reviews": [], "comments": [], "statuses": {},
        }
        self._save(record, f"open pull request #{number} {branch}")
        return self._view(record, head)

    def find(self, branch: str) -> PullRequest | None:
        record = self._load(branch)
        return None if record is None else self._view(record)

    def get(self, pr: PullRequest) -> PullRequest:
        found = self.find(pr.branch)
        if found is None:
            raise NeedsHumanError(f"pull request #{pr.number} ({pr.branch}) has no record")
        return found

    def merge(self, pr: PullRequest, method: str, title: str, message: str) -> MergeResult:
        record = self._require(pr)
        if record["state"] == PRState.MERGED.value:
            return MergeResult(True, sha=record["merged_sha"])
        if record["state"] != PRState.OPEN.value:
            return MergeResult(False, reason="the pull request is closed")
        text = f"{title}\n\n{message}".strip() if message else title
        result = self._merger.merge(pr.branch, record["base"], pr.head_sha, method, text)
        if result.merged:
            record.update(state=PRState.MERGED.value, merged_sha=result.sha, head_sha=pr.head_sha)
            self._save(record, f"merged pull request #{record['number']} ({method})")
        return result

    def close(self, pr: PullRequest, comment: str) -> None:
        self._close(pr, self._user, comment)

    def comment(self, pr: PullRequest, body: str) -> None:
        self.add_comment(pr, self._user, body)

    def reviews(self, pr: PullRequest) -> list[Review]:
        return [Review(**r) for r in self._require(pr)["reviews"]]

    def comments(self, pr: PullRequest) -> list[Comment]:
        return [Comment(**c) for c in self._require(pr)["comments"]]

    def checks(self, pr: PullRequest) -> Checks:
        statuses = self._require(pr)["statuses"].get(pr.head_sha, {})
        return combine_checks(sorted(statuses.items()), ())

    def set_status(self, pr: PullRequest, state: str, description: str) -> None:
        self.add_status(pr, STATUS_CONTEXT, state, description)

    def can_write(self, user: str) -> bool:
        return bool(user)  # whoever can write the state branch can write the repository

    def own_login(self) -> str:
        return self._user

    # --- what people do on the local forge (gitbot approve / reject) -------------------------

    def add_review(self, pr: PullRequest, user: str, state: str) -> None:
        if user == self._user:
            raise GitbotError("gitbot cannot approve its own pull request")
        record = self._require(pr)
        record["reviews"].append({"user": user, "state": state, "time": self._clock()})
        self._save(record, f"pull request #{record['number']}: {state} by {user}")

    def add_comment(self, pr: PullRequest, user: str, body: str) -> None:
        record = self._require(pr)
        record["comments"].append({"user": user, "body": body, "time": self._clock()})
        self._save(record, f"pull request #{record['number']}: comment by {user}")

    def add_status(self, pr: PullRequest, context: str, state: str, description: str) -> None:
        record = self._require(pr)
        record["statuses"].setdefault(pr.head_sha, {})[context] = state
        self._save(record, f"pull request #{record['number']}: {context} {state}: {description}")

    def body(self, pr: PullRequest) -> str:
        """The PR's description as gitbot wrote it (the demo prints it)."""
        return str(self._require(pr)["body"])

    def reject(self, pr: PullRequest, user: str, reason: str = "") -> None:
        self._close(pr, user, reason or f"rejected by {user}")

    # --- records ---------------------------------------------------------------------------

    def _close(self, pr: PullRequest, user: str, comment: str) -> None:
        record = self._require(pr)
        if comment:
            record["comments"].append({"user": user, "body": comment, "time": self._clock()})
        if record["state"] == PRState.OPEN.value:
            record.update(state=PRState.CLOSED.value, closed_by=user)
        self._save(record, f"closed pull request #{record['number']} ({user})")

    def _view(self, record: dict[str, Any], head: str | None = None) -> PullRequest:
        state = PRState(record["state"])
        if state is PRState.OPEN and head is None:
            head = self._merger.head(record["branch"])
            if head is None:  # a person deleted the branch: closed without merging
                state = PRState.CLOSED
        return PullRequest(
            number=int(record["number"]), branch=record["branch"], base=record["base"],
            head_sha=head or record["head_sha"], state=state, title=record["title"],
            author=record["author"], merged_sha=record["merged_sha"],
            mergeable=None, mergeable_state="",
        )

    def _require(self, pr: PullRequest) -> dict[str, Any]:
        record = self._load(pr.branch)
        if record is None:
            raise NeedsHumanError(f"pull request #{pr.number} ({pr.branch}) has no record")
        return record

    @staticmethod
    def _path(branch: str) -> str:
        return f"{_DIR}/{branch}.json"

    def _load(self, branch: str) -> dict[str, Any] | None:
        text = self._files.read_branch_file(self._branch, self._path(branch))
        return dict(json.loads(text)) if text else None

    def _save(self, record: dict[str, Any], subject: str) -> None:
        content = json.dumps(record, indent=2, sort_keys=True) + "\n"
        self._files.write_branch_file(self._branch, self._path(record["branch"]), content, subject)

    def _next_number(self) -> int:
        path = f"{_DIR}/last-number"
        text = self._files.read_branch_file(self._branch, path)
        number = int(text.strip() or 0) + 1 if text else 1
        self._files.write_branch_file(self._branch, path, f"{number}\n", f"pull request #{number}")
        return number
