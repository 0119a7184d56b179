"""The GitHub forge (PyGithub): pull requests, reviews, comments, labels, statuses, checks.

Built by `make_forge`; called by the pull-request driver. Budget-conscious: the client is lazy
(no `GET` for the repository or a PR object it does not need), so an auto-merged step costs
create PR + labels + `gitbot/analysis` status + merge = 4 requests; branches are pushed and
deleted with `git`, not the API. Every call is bounded: a per-request `timeout`, a few retries of
5xx on idempotent methods only (a retried `POST` could open a duplicate PR), and GitHub's rate
limits kept by `github_limits.Guard` (a short secondary limit waited out once, up to `max_wait`;
otherwise a `ForgeBudgetError` and no request until GitHub's reset or Retry-After: the canary
waits, nothing half-done is lost as the state branch records the PR first). The token is read
from `tokenEnv` / `tokenFile` for each request (`FreshToken`: a rotated token is used at once)
and never logged or put in a URL or an error.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from github import Github, GithubException, UnknownObjectException
from github.PullRequest import PullRequest as GhPull
from urllib3.util.retry import Retry

from gitbot.adapters.forges.base import (
    STATUS_CONTEXT,
    WRITE_PERMISSIONS,
    Checks,
    Comment,
    MergeResult,
    PullRequest,
    Review,
    combine_checks,
)
from gitbot.adapters.forges.github_limits import FreshToken, Guard, message_of
from gitbot.adapters.forges.github_shapes import fit_body, fit_label, iso, shape
from gitbot.errors import GitbotError, NeedsHumanError

log = logging.getLogger("gitbot.forge")

# https://docs.github.com/en/rest/pulls/pulls#merge-a-pull-request: 405 when the repository's
# settings disable the method ("Merge commits are not allowed on this repository.")
_NOT_ALLOWED = re.compile(r"(Merge commits|Squash merges|Rebase merges) are not allowed")
# Branch protection that requires the head to be up to date with the base ("behind"): the
# merge is refused, 405/409 "Head branch is out of date. Review and try the merge again."; only
# a head that contains the new base can merge, so gitbot proposes the step again from there.
# Nothing conflicts: the landing says so (not "conflicts").
_OUT_OF_DATE = re.compile(r"Head branch is out of date")
# A required check that has not reported (405 'Required status check "ci" is expected.',
# '2 of 2 required status checks are expected.', or still running): no tick can merge until
# it reports, so the driver stops asking until GitHub's answer can have changed.
_CHECK_EXPECTED = re.compile(
    r"required status checks? .*\b(is|are) (expected|pending|in progress)", re.IGNORECASE)
_ALLOW = {"merge": "allow_merge_commit", "squash": "allow_squash_merge",
          "rebase": "allow_rebase_merge"}


def _retry(total: int) -> Retry:
    return Retry(
        total=total, connect=total, read=0, status=total,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "PUT", "PATCH", "DELETE"}),
        backoff_factor=0.5, respect_retry_after_header=False, raise_on_status=False,
    )


class GitHubForge:
    """Pull requests of one repository `owner/name` on GitHub or GitHub Enterprise."""

    kind = "github"

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str | Callable[[], str],
        *,
        timeout: int = 10,
        retries: int = 2,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        seconds_between_requests: float = 0.25,
        seconds_between_writes: float = 1.0,
    ) -> None:
        read = token if callable(token) else (lambda: token)
        auth = FreshToken(read)
        self._gh = Github(
            base_url=api_url.rstrip("/"), auth=auth, timeout=timeout,
            retry=_retry(retries), lazy=True, per_page=100,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._repo = self._gh.get_repo(repository)
        self._name = repository
        self._owner = repository.split("/", 1)[0]
        requester = self._gh.requester
        self._call = Guard(repository, lambda: (
            int(requester.rate_limiting[0]), float(requester.rate_limiting_resettime or 0)),
            max_wait=max_wait, sleep=sleep, clock=clock, token=lambda: auth.token).call
        self._pulls: dict[int, GhPull] = {}
        self._login = ""
        self._writers: dict[str, bool] = {}

    # --- the Forge interface ----------------------------------------------------------------

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        what = f"opening a pull request for {branch}"
        try:
            pull = self._call(what, lambda: self._repo.create_pull(
                base=base, head=branch, title=title, body=fit_body(body)))
        except GitbotError as err:
            if "already exists" not in str(err):
                raise
            found = self.find(branch)  # a retried or earlier create: adopt it, never duplicate
            if found is None:
                raise
            return found
        self._pulls[pull.number] = pull
        if labels:
            self._label(pull, [fit_label(label) for label in labels])
        return self._view(pull)

    def _label(self, pull: GhPull, labels: list[str]) -> None:
        """Labels help people find gitbot's PRs; the PR is open already, so a refusal (a token
        that may not write issues, say) is a warning, never a failed step."""
        try:
            self._call(f"labelling #{pull.number}", lambda: pull.add_to_labels(*labels))
        except GitbotError as err:
            log.warning("pull request #%d keeps no labels: %s", pull.number, err)

    def find(self, branch: str) -> PullRequest | None:
        """The newest PR of `branch` (any state) from one list request. A listed PR lacks
        `merged` and `mergeable` (GitHub's "pull-request-simple"); reading PyGithub's object
        would fetch the whole PR, so the listed JSON is read as it is: merged from `merged_at`,
        mergeable unknown until `get`."""
        def newest() -> list[Any]:
            _headers, data = self._gh.requester.requestJsonAndCheck(
                "GET", f"/repos/{self._name}/pulls",
                parameters={"state": "all", "head": f"{self._owner}:{branch}", "per_page": 1})
            return data if isinstance(data, list) else []

        listed = self._call(f"finding the pull request of {branch}", newest)
        if not listed:
            return None
        number = int(listed[0]["number"])
        self._pulls.setdefault(number, self._repo.get_pull(number))  # lazy: no request
        return shape(listed[0])

    def get(self, pr: PullRequest) -> PullRequest:
        """The PR now; a conditional request (If-None-Match) when it was read before."""
        pull = self._pulls.get(pr.number) or self._repo.get_pull(pr.number)
        self._call(f"reading #{pr.number}", pull.update)
        self._pulls[pr.number] = pull
        return self._view(pull)

    def merge(self, pr: PullRequest, method: str, title: str, message: str) -> MergeResult:
        pull = self._pulls.get(pr.number) or self._repo.get_pull(pr.number)

        def attempt() -> MergeResult:
            try:
                done = pull.merge(commit_title=title, commit_message=message,
                                  merge_method=method, sha=pr.head_sha)
            except GithubException as err:
                if err.status == 405 and _NOT_ALLOWED.search(message_of(err)):
                    raise self._method_refused(pr, method, message_of(err)) from None
                told = message_of(err)
                if _OUT_OF_DATE.search(told):  # the base moved on: propose again from there
                    return MergeResult(False, reason=told, behind=True)
                if err.status == 405 and _CHECK_EXPECTED.search(told):
                    return MergeResult(False, reason=told, checks_required=True)
                if err.status in (405, 409):
                    return MergeResult(False, stale=err.status == 409, reason=told)
                raise
            return MergeResult(bool(done.merged), sha=done.sha or "", reason=done.message or "")

        return self._call(f"merging #{pr.number}", attempt)

    def _method_refused(self, pr: PullRequest, method: str, told: str) -> NeedsHumanError:
        """The repository's settings disable `method` (GitHub's 405): no tick can merge, a
        person must change pullRequests.mergeMethod or the repository (which methods it allows,
        when the token may read them)."""
        def allowed() -> str:
            raw = self._repo.raw_data
            return ", ".join(m for m, key in _ALLOW.items() if raw.get(key))

        try:
            methods = self._call(f"reading the merge methods of {self._name}", allowed)
        except GitbotError:
            methods = ""
        hint = f" (it allows: {methods})" if methods else ""
        return NeedsHumanError(
            f"GitHub refuses to merge #{pr.number} with pullRequests.mergeMethod {method}: "
            f"{told} Set pullRequests.mergeMethod to a method {self._name} allows{hint}.")

    def close(self, pr: PullRequest, comment: str) -> None:
        if comment:
            self.comment(pr, comment)
        pull = self._pulls.get(pr.number) or self._repo.get_pull(pr.number)
        self._call(f"closing #{pr.number}", lambda: pull.edit(state="closed"))

    def comment(self, pr: PullRequest, body: str) -> None:
        issue = self._repo.get_issue(pr.number)
        self._call(f"commenting on #{pr.number}", lambda: issue.create_comment(fit_body(body)))

    def reviews(self, pr: PullRequest) -> list[Review]:
        pull = self._repo.get_pull(pr.number)
        return self._call(f"reading the reviews of #{pr.number}", lambda: [
            Review(r.user.login if r.user else "", r.state, iso(r.submitted_at), r.body or "")
            for r in pull.get_reviews()
        ])

    def comments(self, pr: PullRequest) -> list[Comment]:
        issue = self._repo.get_issue(pr.number)
        return self._call(f"reading the comments of #{pr.number}", lambda: [
            Comment(c.user.login if c.user else "", c.body or "", iso(c.created_at))
            for c in issue.get_comments()
        ])

    def checks(self, pr: PullRequest) -> Checks:
        commit = self._repo.get_commit(pr.head_sha)

        def read() -> Checks:
            runs = [(r.name, r.status, r.conclusion or "") for r in commit.get_check_runs()]
            return combine_checks(self._statuses(pr.head_sha), runs)

        return self._call(f"reading the checks of #{pr.number}", read)

    def _statuses(self, sha: str) -> list[tuple[str, str]]:
        """The latest status per context, every page: the combined status lists 30 at first
        (https://docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-reference),
        and PyGithub reads only that first page."""
        found: list[tuple[str, str]] = []
        for page in range(1, 11):  # GitHub keeps at most 1000 statuses per commit
            _headers, data = self._gh.requester.requestJsonAndCheck(
                "GET", f"/repos/{self._name}/commits/{sha}/status",
                parameters={"per_page": 100, "page": page})
            listed = data.get("statuses") or []
            found += [(str(s["context"]), str(s["state"])) for s in listed]
            if not listed or len(found) >= int(data.get("total_count") or 0):
                break
        return found

    def set_status(self, pr: PullRequest, state: str, description: str) -> None:
        commit = self._repo.get_commit(pr.head_sha)
        self._call(f"setting {STATUS_CONTEXT} on #{pr.number}", lambda: commit.create_status(
            state, description=description[:140], context=STATUS_CONTEXT))

    def can_write(self, user: str) -> bool:
        """Whether `user` has write access (GitHub's base role admin or write; maintain is
        answered as write). Asked once per user; an unknown account (404) has none."""
        def permission() -> str:
            try:
                return str(self._repo.get_collaborator_permission(user))
            except UnknownObjectException:
                return "none"

        if user not in self._writers:
            perm = self._call(f"reading the permission of {user}", permission)
            self._writers[user] = perm in WRITE_PERMISSIONS
        return self._writers[user]

    def own_login(self) -> str:
        if not self._login:
            self._login = self._call("reading gitbot's own account", self._whoami)
        return self._login

    def _whoami(self) -> str:
        """`GET /user`; a GitHub App installation token may not read it (403 "Resource not
        accessible by integration"), so GraphQL's `viewer` names its account, `<slug>[bot]`
        (fullsend-ai/fullsend#1953)."""
        try:
            return str(self._gh.get_user().login)
        except GithubException as err:
            if err.status != 403 or "not accessible by integration" not in message_of(err):
                raise
        _headers, data = self._gh.requester.graphql_query("query { viewer { login } }", {})
        return str(data["data"]["viewer"]["login"])

    def shutdown(self) -> None:
        """Close the HTTP connections (the daemon calls it on exit)."""
        self._gh.close()

    # --- limits and errors -----------------------------------------------------------------

    def requests_remaining(self) -> int:
        """`X-RateLimit-Remaining` of the last response (-1: nothing known yet)."""
        return int(self._gh.requester.rate_limiting[0])

    # --- shapes ----------------------------------------------------------------------------

    @staticmethod
    def _view(pull: GhPull) -> PullRequest:
        return shape(pull.raw_data)
