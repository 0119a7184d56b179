"""The state and JSON shapes of the GitHub API test server (tests/githubapi.py).

Pull requests, reviews, comments, labels, commit statuses and check runs, each answered with
GitHub's field names and status codes. The Git side (heads, merges) is `BareRepo`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from githubapi_answers import Answer, error_answer
from githubapi_checks import ChecksMixin
from githubapi_git import BareRepo, MergeConflict
from githubapi_people import BODY_MAX, PeopleMixin

NOW = "2026-11-22T10:00:00Z"



# Only `GET /pulls/{n}` has these; a listed pull request ("pull-request-simple") lacks them:
# https://docs.github.com/en/rest/pulls/pulls#list-pull-requests (merged_at is in both).
_DETAIL_ONLY = ("merged", "mergeable", "mergeable_state", "rebaseable", "merged_by", "comments",
                "review_comments", "commits", "additions", "deletions", "changed_files",
                "maintainer_can_modify")


# https://docs.github.com/en/rest/pulls/pulls#merge-a-pull-request answers 405 when the repository
# settings disable the method (the texts as GitHub sends them)
_NOT_ALLOWED = {"merge": "Merge commits are not allowed on this repository.",
                "squash": "Squash merges are not allowed on this repository.",
                "rebase": "Rebase merges are not allowed on this repository."}


def _simple(pull: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pull.items() if k not in _DETAIL_ONLY}


class Model(ChecksMixin, PeopleMixin):
    def __init__(
        self, git: BareRepo, full_name: str, api: Callable[[str], str], perms: dict[str, str]
    ) -> None:
        self.git = git
        self.full_name = full_name
        self.api = api
        self.perms = perms
        self.pulls: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.labels: dict[int, list[str]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.required_contexts: list[str] = []  # branch protection of every base branch
        self.required_approvals = 0
        self.strict = False  # protection: the head must contain the base's head to merge
        self.merge_methods = {"merge", "squash", "rebase"}  # the repository's allow_*_merge
        self.delete_branch_on_merge = False
        self.labels_refused = False  # POST labels answers 403
        self.computing: dict[int, int] = {}  # PR -> GETs still answered mergeable null
        self._ids = 1000

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    # --- shapes ----------------------------------------------------------------------------

    def user_json(self, login: str) -> dict[str, Any]:
        kind = "Bot" if login.endswith("[bot]") else "User"  # a GitHub App's account
        return {"login": login, "id": abs(hash(login)) % 10**6, "type": kind,
                "url": self.api(f"/users/{login}"), "html_url": f"https://github.test/{login}"}

    def repo_json(self) -> dict[str, Any]:
        owner, name = self.full_name.split("/")
        return {"id": 1, "name": name, "full_name": self.full_name, "private": True,
                "owner": self.user_json(owner), "default_branch": "main",
                "url": self.api(f"/repos/{self.full_name}"),
                "html_url": f"https://github.test/{self.full_name}",
                "allow_merge_commit": "merge" in self.merge_methods,
                "allow_squash_merge": "squash" in self.merge_methods,
                "allow_rebase_merge": "rebase" in self.merge_methods,
                "delete_branch_on_merge": self.delete_branch_on_merge}

    def _head(self, pr: dict[str, Any]) -> str:
        if pr["state"] == "open":
            return self.git.head(pr["head"]) or pr["head_sha"]
        return str(pr["head_sha"])

    def pull_json(self, pr: dict[str, Any], computing: bool = False) -> dict[str, Any]:
        n, owner = pr["number"], self.full_name.split("/")[0]
        head = self._head(pr)
        base_sha = self.git.head(pr["base"]) or ""
        mergeable: bool | None = None
        state = "unknown"
        if pr["state"] == "open" and not computing:
            mergeable = self.git.mergeable(base_sha, head)
            state = self._mergeable_state(pr, head, mergeable)
        repo = self.repo_json()
        return {
            "url": self.api(f"/repos/{self.full_name}/pulls/{n}"), "id": n + 500,
            "node_id": f"PR_{n}", "html_url": f"https://github.test/{self.full_name}/pull/{n}",
            "issue_url": self.api(f"/repos/{self.full_name}/issues/{n}"),
            "statuses_url": self.api(f"/repos/{self.full_name}/statuses/{head}"),
            "number": n, "state": pr["state"], "locked": False, "title": pr["title"],
            "user": self.user_json(pr["user"]), "body": pr["body"],
            "labels": [{"id": i, "name": label, "color": "ededed", "default": False}
                       for i, label in enumerate(self.labels.get(n, []))],
            "created_at": NOW, "updated_at": NOW, "closed_at": pr["closed_at"],
            "merged_at": pr["merged_at"], "merge_commit_sha": pr["merge_commit_sha"],
            "head": {"label": f"{owner}:{pr['head']}", "ref": pr["head"], "sha": head,
                     "user": self.user_json(owner), "repo": repo},
            "base": {"label": f"{owner}:{pr['base']}", "ref": pr["base"], "sha": base_sha,
                     "user": self.user_json(owner), "repo": repo},
            "draft": False, "merged": pr["merged"], "mergeable": mergeable,
            "mergeable_state": state, "rebaseable": mergeable,
            "merged_by": self.user_json(pr["merged_by"]) if pr["merged_by"] else None,
            "comments": len(self.comments.get(n, [])), "commits": 1,
        }

    def _mergeable_state(self, pr: dict[str, Any], head: str, mergeable: bool) -> str:
        if not mergeable:
            return "dirty"
        if self._behind(pr, head):
            return "behind"
        if self._blocked(pr, head):
            return "blocked"
        combined = self.combined_status(head)[1]["state"]
        runs = self.runs.get(head, [])
        bad_run = any(r["conclusion"] not in ("success", "neutral", "skipped") for r in runs)
        if (combined != "success" and self.statuses.get(head)) or bad_run:
            return "unstable"
        return "clean"

    def _behind(self, pr: dict[str, Any], head: str) -> bool:
        """Branch protection "require branches to be up to date before merging" (strict) and
        the base moved on since the head was branched."""
        base = self.git.head(pr["base"]) or ""
        return self.strict and not self.git.is_ancestor(base, head)

    def _blocked(self, pr: dict[str, Any], head: str) -> str:
        latest = {s["context"]: s["state"] for s in self.statuses.get(head, [])}
        for run in self.runs.get(head, []):
            latest[run["name"]] = run["conclusion"] or "pending"
        for context in self.required_contexts:
            state = latest.get(context)
            if state is None or state == "pending":
                return f'Required status check "{context}" is expected.'
            if state != "success":
                return f'Required status check "{context}" is failing.'
        if self._approvals(pr) < self.required_approvals:
            n = self.required_approvals
            return f"At least {n} approving review{'s' if n > 1 else ''} is required by " \
                   "reviewers with write access."
        return ""

    def _approvals(self, pr: dict[str, Any]) -> int:
        latest: dict[str, str] = {}
        for review in self.reviews.get(pr["number"], []):
            if review["state"] != "COMMENTED":
                latest[review["user"]["login"]] = review["state"]
        writers = ("admin", "maintain", "write")
        return sum(1 for user, state in latest.items()
                   if state == "APPROVED" and self.perms.get(user) in writers)

    # --- pulls -----------------------------------------------------------------------------

    def list_pulls(self, query: dict[str, list[str]]) -> Answer:
        state = query.get("state", ["open"])[0]
        # `owner:branch`; a bare branch name is silently ignored (every PR is listed), as on
        # GitHub (https://docs.github.com/en/rest/pulls/pulls#list-pull-requests)
        owner, colon, head = query.get("head", [""])[0].partition(":")
        if colon and owner.lower() != self.full_name.split("/")[0].lower():
            return 200, []
        found = [
            _simple(self.pull_json(pr))
            for pr in sorted(self.pulls.values(), key=lambda p: -p["number"])
            if (state == "all" or pr["state"] == state) and (not head or pr["head"] == head)
        ]
        return 200, found

    def create_pull(self, user: str, data: dict[str, Any]) -> Answer:
        head = str(data.get("head", "")).partition(":")[2] or str(data.get("head", ""))
        base = str(data.get("base", ""))
        if not data.get("title"):
            return error_answer(422, "Validation Failed",
                          [{"resource": "PullRequest", "field": "title", "code": "missing_field"}])
        if len(data.get("body") or "") > BODY_MAX:
            return error_answer(422, "Validation Failed", [{
                "resource": "PullRequest", "code": "custom", "field": "body",
                "message": f"body is too long (maximum is {BODY_MAX} characters)"}])
        sha = self.git.head(head)
        if sha is None or self.git.head(base) is None:
            field = "head" if sha is None else "base"
            return error_answer(422, "Validation Failed",
                          [{"resource": "PullRequest", "field": field, "code": "invalid"}])
        owner = self.full_name.split("/")[0]
        if any(p["head"] == head and p["state"] == "open" for p in self.pulls.values()):
            return error_answer(422, "Validation Failed", [{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {owner}:{head}."}])
        if self.git.is_ancestor(sha, self.git.head(base) or ""):  # nothing to merge
            return error_answer(422, "Validation Failed", [{
                "resource": "PullRequest", "code": "custom",
                "message": f"No commits between {base} and {head}"}])
        number = len(self.pulls) + 1
        pr = {"number": number, "title": data["title"], "body": data.get("body") or "",
              "head": head, "base": base, "head_sha": sha, "user": user, "state": "open",
              "merged": False, "merged_at": None, "closed_at": None, "merge_commit_sha": None,
              "merged_by": None}
        self.pulls[number] = pr
        return 201, self.pull_json(pr, computing=True)

    def get_pull(self, number: int) -> Answer:
        """GitHub answers `mergeable: null` while its background job computes it (after a
        create, or a push to the head or the base): `computing[number]` such answers first
        (https://docs.github.com/en/rest/guides/using-the-rest-api-to-interact-with-your-git-database#checking-mergeability-of-pull-requests)."""
        pr = self.pulls.get(number)
        if pr is None:
            return error_answer(404, "Not Found")
        busy = self.computing.get(number, 0) > 0
        if busy:
            self.computing[number] -= 1
        return 200, self.pull_json(pr, computing=busy)

    def update_pull(self, number: int, user: str, data: dict[str, Any]) -> Answer:
        pr = self.pulls.get(number)
        if pr is None:
            return error_answer(404, "Not Found")
        for key in ("title", "body"):
            if key in data:
                pr[key] = data[key]
        if data.get("state") == "closed" and pr["state"] == "open":
            pr.update(state="closed", closed_at=NOW, head_sha=self._head(pr))
        return 200, self.pull_json(pr)

    def merge(self, number: int, user: str, data: dict[str, Any]) -> Answer:
        pr = self.pulls.get(number)
        if pr is None:
            return error_answer(404, "Not Found")
        method = data.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            return error_answer(422, "Validation Failed", [{"resource": "PullRequest",
                                                      "field": "merge_method", "code": "invalid"}])
        if pr["state"] != "open":
            return error_answer(405, "Pull Request is not mergeable")
        if method not in self.merge_methods:
            return error_answer(405, _NOT_ALLOWED[method])
        head = self._head(pr)
        if data.get("sha") and data["sha"] != head:
            return error_answer(409, "Head branch was modified. Review and try the merge again.")
        if self._behind(pr, head):  # as GitHub answers the merge of a "behind" PR
            return error_answer(409, "Head branch is out of date. Review and try the merge again.")
        blocked = self._blocked(pr, head)
        if blocked:
            return error_answer(405, blocked)
        title = data.get("commit_title") or self._default_title(pr, method)
        body = data.get("commit_message")
        if body is None:
            body = pr["title"] if method == "merge" else "\n\n".join(
                self.git.messages(pr["base"], head))
        try:
            sha = self.git.merge(pr["base"], head, method, f"{title}\n\n{body}".strip())
        except MergeConflict:
            return error_answer(405, "Pull Request is not mergeable")
        pr.update(state="closed", merged=True, merged_at=NOW, closed_at=NOW,
                  merge_commit_sha=sha, merged_by=user, head_sha=head)
        if self.delete_branch_on_merge:  # the repository setting: GitHub deletes the head
            self.git.delete_branch(pr["head"])
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def _default_title(self, pr: dict[str, Any], method: str) -> str:
        if method == "squash":
            return f"{pr['title']} (#{pr['number']})"
        owner = self.full_name.split("/")[0]
        return f"Merge pull request #{pr['number']} from {owner}/{pr['head']}"
