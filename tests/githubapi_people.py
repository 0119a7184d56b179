"""Reviews, issue comments, labels and collaborator permissions of the GitHub API test server
(mixed into its `Model`), with GitHub's shapes and refusals."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from githubapi_answers import Answer, error_answer

LATER = "2026-11-22T11:00:00Z"
BODY_MAX = 65536  # GitHub's limit for a comment's or a pull request's body
_SECONDS = itertools.count()


def stamp() -> str:
    """GitHub's timestamps: each review and comment a second after the one before."""
    at = datetime(2026, 11, 22, 10, tzinfo=UTC) + timedelta(seconds=next(_SECONDS))
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")



class PeopleMixin:
    """`/pulls/{n}/reviews`, `/issues/{n}/comments`, `/issues/{n}/labels`, permissions."""

    full_name: str
    api: Callable[[str], str]
    perms: dict[str, str]
    pulls: dict[int, dict[str, Any]]
    reviews: dict[int, list[dict[str, Any]]]
    comments: dict[int, list[dict[str, Any]]]
    labels: dict[int, list[str]]
    labels_refused: bool

    _id: Callable[[], int]  # the Model's
    _head: Callable[[dict[str, Any]], str]
    user_json: Callable[[str], dict[str, Any]]

    # --- reviews, comments, labels ---------------------------------------------------------

    def list_reviews(self, number: int) -> Answer:
        if number not in self.pulls:
            return error_answer(404, "Not Found")
        return 200, self.reviews.get(number, [])

    def create_review(self, number: int, user: str, data: dict[str, Any]) -> Answer:
        pr = self.pulls.get(number)
        if pr is None:
            return error_answer(404, "Not Found")
        event = data.get("event", "")
        states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                  "COMMENT": "COMMENTED"}
        if event not in states:
            return error_answer(422, "Unprocessable Entity", ["Invalid event"])
        if user == pr["user"] and event == "APPROVE":
            return error_answer(422, "Unprocessable Entity",
                                ["Can not approve your own pull request"])
        if user == pr["user"] and event == "REQUEST_CHANGES":
            return error_answer(422, "Unprocessable Entity",
                          ["Can not request changes on your own pull request"])
        review = {"id": self._id(), "node_id": "PRR", "user": self.user_json(user),
                  "body": data.get("body") or "", "state": states[event],
                  "commit_id": self._head(pr), "submitted_at": stamp(),
                  "author_association": "COLLABORATOR" if user in self.perms else "NONE",
                  "html_url": f"https://github.test/{self.full_name}/pull/{number}",
                  "pull_request_url": self.api(f"/repos/{self.full_name}/pulls/{number}")}
        self.reviews.setdefault(number, []).append(review)
        return 200, review

    def dismiss_review(self, number: int, review_id: int, user: str, data: Any) -> Answer:
        """`PUT /pulls/{n}/reviews/{id}/dismissals`: the review's state becomes DISMISSED
        (https://docs.github.com/en/rest/pulls/reviews#dismiss-a-review-for-a-pull-request)."""
        review = next((r for r in self.reviews.get(number, []) if r["id"] == review_id), None)
        if review is None:
            return error_answer(404, "Not Found")
        if not isinstance(data, dict) or not data.get("message"):
            return error_answer(422, "Validation Failed", [{"resource": "PullRequestReview",
                                                      "field": "message", "code": "missing"}])
        if review["state"] not in ("APPROVED", "CHANGES_REQUESTED"):
            return error_answer(422, "Unprocessable Entity",
                          ["Can not dismiss a commented pull request review"])
        review["state"] = "DISMISSED"
        return 200, review

    def edit_comment(self, comment_id: int, data: Any) -> Answer:
        """`PATCH /issues/comments/{id}`: a new body, `updated_at` moves."""
        for comments in self.comments.values():
            for comment in comments:
                if comment["id"] == comment_id:
                    comment.update(body=data.get("body") or "", updated_at=LATER)
                    return 200, comment
        return error_answer(404, "Not Found")

    def list_comments(self, number: int) -> Answer:
        if number not in self.pulls:
            return error_answer(404, "Not Found")
        return 200, self.comments.get(number, [])

    def create_comment(self, number: int, user: str, data: dict[str, Any]) -> Answer:
        if number not in self.pulls:
            return error_answer(404, "Not Found")
        if not data.get("body"):
            return error_answer(422, "Validation Failed",
                          [{"resource": "IssueComment", "field": "body", "code": "missing_field"}])
        if len(data["body"]) > BODY_MAX:
            return error_answer(422, "Validation Failed", [{
                "resource": "IssueComment", "code": "custom", "field": "body",
                "message": f"Body is too long (maximum is {BODY_MAX} characters)"}])
        cid = self._id()
        comment = {"id": cid, "node_id": "IC", "user": self.user_json(user), "body": data["body"],
                   "created_at": (now := stamp()), "updated_at": now,
                   "url": self.api(f"/repos/{self.full_name}/issues/comments/{cid}"),
                   "html_url": f"https://github.test/{self.full_name}/pull/{number}#c{cid}",
                   "issue_url": self.api(f"/repos/{self.full_name}/issues/{number}"),
                   "author_association": "COLLABORATOR" if user in self.perms else "NONE"}
        self.comments.setdefault(number, []).append(comment)
        return 201, comment

    def add_labels(self, number: int, data: Any) -> Answer:
        if number not in self.pulls:
            return error_answer(404, "Not Found")
        names = data.get("labels", []) if isinstance(data, dict) else list(data or [])
        if self.labels_refused:  # a fine-grained token without issues:write
            return error_answer(403, "Resource not accessible by personal access token")
        for name in names:  # GitHub: a label name has at most 50 characters
            if len(name) > 50:
                return error_answer(422, "Validation Failed", [{
                    "value": name, "resource": "Label", "field": "name", "code": "invalid"}])
        current = self.labels.setdefault(number, [])
        current += [n for n in names if n not in current]
        return 200, [{"id": i, "name": n, "color": "ededed", "default": False,
                      "url": self.api(f"/repos/{self.full_name}/labels/{n}")}
                     for i, n in enumerate(current)]

    def permission(self, login: str) -> Answer:
        """GitHub's shape: `permission` is the base role (admin | write | read | none; maintain
        is answered as write, triage as read), `role_name` the role itself."""
        role = self.perms.get(login, "none")
        base = {"maintain": "write", "triage": "read"}.get(role, role)
        rank = ["none", "read", "triage", "write", "maintain", "admin"].index(role)
        flags = {"pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3,
                 "maintain": rank >= 4, "admin": rank >= 5}
        user = {**self.user_json(login), "permissions": flags, "role_name": role}
        return 200, {"permission": base, "role_name": role, "user": user}
