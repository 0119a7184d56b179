"""Pull-request mode: what people said on a pull request (pure): approving reviews by people
other than gitbot, and `/gitbot promote|abort|pause|resume` commands from people with write
access, in comments or in the text of reviews, in time order.

Called by `gitbot.pullrequests.PullRequestDriver` (re-exported there) every tick a PR waits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gitbot.adapters.forges import Comment, Review

_COMMAND = re.compile(r"^\s*/gitbot\s+(promote|abort|pause|resume)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """What people said on a PR (pure; see `judge`)."""

    approved_by: tuple[str, ...] = ()
    rejected_by: str = ""
    suspend: bool | None = None
    ignored: tuple[str, ...] = field(default=())  # commands from people without write access


def judge(
    reviews: Iterable[Review],
    comments: Iterable[Comment],
    own: str,
    can_write: Callable[[str], bool],
    approvals: int,
) -> Verdict:
    """Approvals (the latest review per person, never gitbot's own) and `/gitbot` commands,
    from comments and from the text of reviews (GitHub's "Review changes" box), in time order."""
    latest: dict[str, str] = {}
    said = list(comments)
    for review in reviews:
        if review.user and review.user != own and review.state != "COMMENTED":
            latest[review.user] = review.state
        if review.body:
            said.append(Comment(review.user, review.body, review.time))
    approvers = [u for u, s in latest.items() if s == "APPROVED" and can_write(u)]
    promoted: list[str] = []
    rejected, suspend, ignored = "", None, []
    for comment in sorted(said, key=lambda c: c.time):  # stable: equal times keep their order
        match = _COMMAND.match(comment.body)
        if not match or comment.user == own:
            continue
        if not can_write(comment.user):
            ignored.append(f"{comment.user}: /gitbot {match.group(1).lower()}")
            continue
        command = match.group(1).lower()
        if command == "promote":
            promoted, rejected = [comment.user], ""
        elif command == "abort":
            promoted, rejected = [], comment.user
        else:
            suspend = command == "pause"
    approved = tuple(promoted) or (tuple(approvers) if len(approvers) >= approvals else ())
    return Verdict(approved, rejected, suspend, tuple(ignored))
