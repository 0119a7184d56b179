"""`judge`: what people said on a pull request — approvals (latest review per person, never
gitbot's own, only people with write access) and `/gitbot` commands."""

from __future__ import annotations

import pytest

from gitbot.adapters.forges import Comment, Review
from gitbot.pullrequests import Verdict, judge

WRITERS = {"dana", "lee", "gitbot"}


def _judge(reviews: list[Review], comments: list[Comment], approvals: int = 1) -> Verdict:
    return judge(reviews, comments, "gitbot", WRITERS.__contains__, approvals)


@pytest.mark.parametrize(
    ("reviews", "comments", "approvals", "expected"),
    [
        pytest.param([], [], 1, Verdict(), id="nothing-yet"),
        pytest.param([Review("dana", "APPROVED")], [], 1, Verdict(("dana",)), id="one-approval"),
        pytest.param([Review("dana", "APPROVED")], [], 2, Verdict(), id="needs-two"),
        pytest.param([Review("dana", "APPROVED"), Review("lee", "APPROVED")], [], 2,
                     Verdict(("dana", "lee")), id="two-approvals"),
        pytest.param([Review("dana", "APPROVED"), Review("dana", "CHANGES_REQUESTED")], [], 1,
                     Verdict(), id="latest-review-wins"),
        pytest.param([Review("dana", "APPROVED"), Review("dana", "COMMENTED")], [], 1,
                     Verdict(("dana",)), id="a-comment-review-keeps-the-approval"),
        pytest.param([Review("gitbot", "APPROVED")], [], 1, Verdict(), id="own-review-ignored"),
        pytest.param([Review("eve", "APPROVED")], [], 1, Verdict(), id="reader-ignored"),
        pytest.param([], [Comment("gitbot", "/gitbot promote")], 1, Verdict(),
                     id="own-command-ignored"),
        pytest.param([], [Comment("eve", "/gitbot promote")], 1,
                     Verdict(ignored=("eve: /gitbot promote",)), id="reader-command-ignored"),
        pytest.param([], [Comment("dana", "/gitbot abort"), Comment("lee", "/GITBOT Promote")], 1,
                     Verdict(("lee",)), id="promote-after-abort"),
        pytest.param([Review("dana", "APPROVED")], [Comment("lee", "/gitbot abort")], 1,
                     Verdict(("dana",), "lee"), id="abort-with-an-approval"),
        pytest.param([], [Comment("dana", "/gitbot pause"), Comment("dana", "/gitbot resume")], 1,
                     Verdict(suspend=False), id="resume-after-pause"),
        pytest.param([Review("dana", "COMMENTED", "2026-11-22T10:00:02Z", "/gitbot abort")],
                     [Comment("lee", "/gitbot promote", "2026-11-22T10:00:01Z")], 1,
                     Verdict((), "dana"), id="review-text-command-in-time-order"),
        pytest.param([Review("gitbot", "COMMENTED", "2026-11-22T10:00:02Z", "/gitbot promote")],
                     [], 1, Verdict(), id="own-review-text-ignored"),
    ],
)
def test_judge(
    reviews: list[Review], comments: list[Comment], approvals: int, expected: Verdict
) -> None:
    assert _judge(reviews, comments, approvals) == expected
