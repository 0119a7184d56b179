"""The values and the interface every forge implements (local Git remote, GitHub).

Re-exported by `gitbot.adapters.forges`; used by the pull-request driver
(`gitbot.pullrequests`). A forge knows pull requests by their head branch
(`gitbot/<namespace>/<name>/<step>-<action>`): `find` after a restart never opens a duplicate.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gitbot.errors import GitbotError, RetryableError

STATUS_CONTEXT = "gitbot/analysis"
MERGE_METHODS = ("merge", "squash", "rebase")
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


class PRState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"  # closed without merging
    MERGED = "merged"


@dataclass(frozen=True)
class PullRequest:
    """One pull request as the forge reports it now."""

    number: int
    branch: str  # head branch
    base: str
    head_sha: str  # the branch head the forge sees now (a person may have pushed on top)
    state: PRState
    url: str = ""
    title: str = ""
    author: str = ""
    merged_sha: str = ""  # the commit on the base branch that landed it
    mergeable: bool | None = None  # None: unknown (GitHub computes it in the background)
    mergeable_state: str = ""  # GitHub's clean | unstable | blocked | dirty | behind | unknown


@dataclass(frozen=True)
class Review:
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    time: str = ""
    body: str = ""  # the review's own text (a `/gitbot` command counts as in a comment)


@dataclass(frozen=True)
class Comment:
    user: str
    body: str
    time: str = ""


class CheckState(enum.Enum):
    GREEN = "green"
    PENDING = "pending"
    RED = "red"


@dataclass(frozen=True)
class Checks:
    """Commit statuses and check runs of a PR head, combined."""

    state: CheckState
    details: tuple[str, ...] = ()  # "ci: failure", one per check that is not green
    reported: tuple[str, ...] = ()  # every check reported, "ci: success", sorted


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    sha: str = ""  # the new head of the base branch
    stale: bool = False  # the head moved since it was read (GitHub 409)
    reason: str = ""  # why not (GitHub's 405 message, a conflict)
    conflict: bool = False  # the head does not merge cleanly into the base
    behind: bool = False  # the base moved and its protection wants the head up to date (GitHub)
    checks_required: bool = False  # a required check has not reported (GitHub's 405)


class StaleHeadError(GitbotError):
    """The PR head is not the commit the caller expected."""


class ForgeBudgetError(RetryableError):
    """The forge's request budget is spent (rate limit); try again later."""


class Forge(Protocol):
    """A place where pull requests live."""

    kind: str

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest: ...

    def find(self, branch: str) -> PullRequest | None: ...

    def get(self, pr: PullRequest) -> PullRequest: ...

    def merge(self, pr: PullRequest, method: str, title: str, message: str) -> MergeResult: ...

    def close(self, pr: PullRequest, comment: str) -> None: ...

    def comment(self, pr: PullRequest, body: str) -> None: ...

    def reviews(self, pr: PullRequest) -> list[Review]: ...

    def comments(self, pr: PullRequest) -> list[Comment]: ...

    def checks(self, pr: PullRequest) -> Checks: ...

    def set_status(self, pr: PullRequest, state: str, description: str) -> None: ...

    def can_write(self, user: str) -> bool: ...

    def own_login(self) -> str: ...


def combine_checks(
    statuses: Sequence[tuple[str, str]], runs: Sequence[tuple[str, str, str]]
) -> Checks:
    """Green / pending / red from (context, state) statuses and (name, status, conclusion) runs.

    Any failure or error is red; anything queued, in progress or pending is pending; neutral and
    skipped runs count as passed. No checks at all is green (nothing is required).
    """
    red: list[str] = []
    pending: list[str] = []
    reported = tuple(sorted({f"{c}: {s}" for c, s in statuses}
                            | {f"{n}: {s} {c}".rstrip() for n, s, c in runs}))
    for context, state in statuses:
        if state in ("failure", "error"):
            red.append(f"{context}: {state}")
        elif state != "success":
            pending.append(f"{context}: {state}")
    for name, status, conclusion in runs:
        if status != "completed":
            pending.append(f"{name}: {status}")
        elif conclusion not in ("success", "neutral", "skipped"):
            red.append(f"{name}: {conclusion}")
    if red:
        return Checks(CheckState.RED, tuple(red + pending), reported)
    if pending:
        return Checks(CheckState.PENDING, tuple(pending), reported)
    return Checks(CheckState.GREEN, reported=reported)
