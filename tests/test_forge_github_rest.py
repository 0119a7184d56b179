"""The GitHub forge against GitHub's documented REST behaviour (the test server answers as
GitHub does; each case names the page): listed pull requests without `merged`, rate limits,
merge refusals, pagination, dismissed reviews, branches GitHub deletes itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from forgerig import Rig, make_rig
from gitfixtures import git, make_remote
from githubapi import GitHubAPI

from gitbot.adapters.forges import ForgeBudgetError, PRState, PullRequest
from gitbot.adapters.forges.github import GitHubForge
from gitbot.errors import GitbotError, NeedsHumanError
from gitbot.pullrequests import Outcome, Policy, judge


def test_find_reads_a_merged_pull_request_from_one_list_request(tmp_path: Path) -> None:
    """https://docs.github.com/en/rest/pulls/pulls#list-pull-requests: a listed PR has
    `merged_at` but no `merged` or `mergeable`."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance")
        proposal = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b")
        merged = rig.driver.advance(proposal.pr, "advance", fresh=True, gitbot_sha=sha)
        before = rig.api.count()
        found = rig.forge.find(proposal.pr.branch)
        assert found is not None and found.state is PRState.MERGED
        assert found.merged_sha == merged.merged_sha and found.head_sha == sha
        made = rig.api.requests[before:]
        assert [(c.method, c.path) for c in made] == [("GET", "/repos/acme/gitops/pulls")]
        assert made[0].query["head"] == [f"acme:{proposal.pr.branch}"]
        assert rig.forge.get(found).mergeable is None  # merged: GitHub computes nothing


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("throttles", "sleeps", "quiet"), [
    pytest.param([(403, 7)], [7.0], 0, id="retry-after-within-max-wait-waited-once"),
    pytest.param([(429, 3600)], [], 3600, id="retry-after-beyond-max-wait-no-request-until-then"),
    pytest.param([(403, 5), (429, 5)], [5.0, 5.0], 0, id="limited-again-waited-again"),
    pytest.param([(403, 40), (403, 40)], [40.0], 40, id="waits-adding-up-beyond-max-wait"),
    pytest.param([(403, 1)] * 3, [1.0, 1.0], 1, id="a-third-time-no-request-until-then"),
    pytest.param([(403, None)], [60.0], 0, id="no-retry-after-a-minute"),
    pytest.param([(429, None), (429, None)], [60.0], 120, id="no-retry-after-twice-then-longer"),
])
def test_a_secondary_rate_limit_is_waited_out_without_requests_in_between(
    tmp_path: Path, throttles: list[tuple[int, int | None]], sleeps: list[float], quiet: int,
) -> None:
    """https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit:
    no request before Retry-After; without it at least a minute, exponentially longer when
    limited again."""
    clock = Clock()
    with make_rig("github", tmp_path, clock=clock) as rig:
        assert rig.api is not None
        for status, after in throttles:
            rig.api.throttle(status, retry_after=after)
        sha = rig.commit(1, "advance")

        def propose() -> int:
            return rig.driver.propose("test/podinfo", 1, "advance", sha, "a", "b").pr.number

        if quiet:
            with pytest.raises(ForgeBudgetError, match=rf"no request before .* \(in {quiet}s\)"):
                propose()
            sent = rig.api.count()
            clock.now += quiet - 1
            with pytest.raises(ForgeBudgetError, match="no request before"):
                propose()
            assert rig.api.count() == sent  # nothing sent while GitHub asked to wait
            clock.now += 1
        assert propose() == 1
        assert rig.sleeps == sleeps
        assert len(rig.api.model.pulls) == 1
        assert [c.status for c in rig.api.requests[:len(throttles)]] == [s for s, _ in throttles]


@pytest.mark.parametrize("status", [pytest.param(403, id="403"), pytest.param(429, id="429")])
def test_a_spent_primary_budget_sends_nothing_until_its_reset(tmp_path: Path, status: int) -> None:
    """Same page: 403 or 429 with x-ratelimit-remaining 0; no request before x-ratelimit-reset."""
    clock = Clock()
    with make_rig("github", tmp_path, clock=clock) as rig:
        assert rig.api is not None
        rig.api.spend_budget(reset_in=3600, status=status)
        clock.now = int(rig.api.rate_reset) - 3600.0  # GitHub sends whole seconds
        with pytest.raises(ForgeBudgetError, match=r"budget spent .* \(in 3600s\)"):
            rig.forge.own_login()
        assert [c.status for c in rig.api.requests] == [status]
        with pytest.raises(ForgeBudgetError, match="budget spent"):
            rig.forge.can_write("dana")
        assert rig.api.count() == 1  # refused locally
        clock.now += 3600  # the hour is over, on both sides
        rig.api.rate_reset = time.time()
        assert rig.forge.own_login() == "gitbot-bot"
        assert rig.sleeps == []


@pytest.mark.parametrize(("method", "allowed", "told"), [
    pytest.param("merge", {"squash"}, "Merge commits are not allowed", id="squash-only-repo"),
    pytest.param("squash", {"merge", "rebase"}, "Squash merges are not allowed", id="no-squash"),
    pytest.param("rebase", {"merge"}, "Rebase merges are not allowed", id="merge-only-repo"),
])
def test_a_merge_method_the_repository_disables_is_a_clear_error(
    tmp_path: Path, method: str, allowed: set[str], told: str,
) -> None:
    """https://docs.github.com/en/rest/pulls/pulls#merge-a-pull-request: 405 when the
    repository's settings do not allow the merge method; no later tick could merge."""
    with make_rig("github", tmp_path, Policy(merge_method=method)) as rig:
        assert rig.api is not None
        rig.api.model.merge_methods = allowed
        sha = rig.commit(1, "advance")
        pr = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b").pr
        with pytest.raises(NeedsHumanError) as refused:
            rig.driver.advance(pr, "advance", fresh=True, gitbot_sha=sha)
        text = str(refused.value)
        assert f"pullRequests.mergeMethod {method}: {told} on this repository." in text
        assert text.endswith(f"(it allows: {', '.join(sorted(allowed, key=_ORDER.index))}).")
        assert rig.api.model.pulls[pr.number]["state"] == "open"


_ORDER = ["merge", "squash", "rebase"]


@pytest.mark.parametrize(("auto_delete", "said"), [
    pytest.param(True, "was deleted on the remote already", id="delete-branch-on-merge"),
    pytest.param(False, "", id="gitbot-deletes-it"),
])
def test_a_head_branch_github_deleted_on_merge_is_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, auto_delete: bool, said: str,
) -> None:
    """https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/configuring-pull-request-merges/managing-the-automatic-deletion-of-branches:
    with delete_branch_on_merge GitHub deletes the head branch itself; gitbot's lease-guarded
    delete then finds nothing, which is what it wanted."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        rig.api.model.delete_branch_on_merge = auto_delete
        sha = rig.commit(1, "advance")
        pr = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b").pr
        with caplog.at_level(logging.INFO, logger="gitbot.forge"):
            done = rig.driver.advance(pr, "advance", fresh=True, gitbot_sha=sha)
        assert done.outcome is Outcome.MERGED and rig.branches() == []
        lines = [r.getMessage() for r in caplog.records]
        assert not any(line.startswith("kept branch") for line in lines), lines
        assert any(said in line for line in lines) == bool(said), lines


def _many_reviews(rig: Rig, pr: PullRequest) -> str:
    for _ in range(120):
        rig.api.review(pr.number, "eve", "COMMENT")  # type: ignore[union-attr]
    rig.person_approves(pr, "dana")  # the 121st review: on the second page of 100
    return "approved_by=dana"


def _many_comments(rig: Rig, pr: PullRequest) -> str:
    for n in range(130):
        rig.person_comments(pr, f"looks fine {n}", user="eve")
    rig.person_comments(pr, "/gitbot abort", user="dana")
    return "rejected_by=dana"


def _many_statuses(rig: Rig, pr: PullRequest) -> str:
    for n in range(140):
        rig.api.status(pr.head_sha, f"lint-{n}", "success")  # type: ignore[union-attr]
    rig.api.status(pr.head_sha, "e2e", "failure")  # type: ignore[union-attr]
    return "red=e2e: failure"


def _many_check_runs(rig: Rig, pr: PullRequest) -> str:
    for n in range(150):
        rig.api.check_run(pr.head_sha, f"job-{n}", "completed", "success")  # type: ignore[union-attr]
    rig.api.check_run(pr.head_sha, "deploy", "in_progress")  # type: ignore[union-attr]
    return "pending=deploy: in_progress"


@pytest.mark.parametrize("make", [
    pytest.param(_many_reviews, id="reviews"),
    pytest.param(_many_comments, id="issue-comments"),
    pytest.param(_many_statuses, id="combined-status"),
    pytest.param(_many_check_runs, id="check-runs"),
])
def test_every_page_is_read(tmp_path: Path, make: Callable[[Rig, PullRequest], str]) -> None:
    """https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api:
    at most 100 per page, the rest behind the Link header; what decides may be on the last."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote 1", "b").pr
        what, _, value = make(rig, pr).partition("=")
        if what in ("red", "pending"):
            checks = rig.forge.checks(pr)
            assert (checks.state.value, checks.details) == (what, (value,))
        else:
            verdict = judge(rig.forge.reviews(pr), rig.forge.comments(pr), "gitbot-bot",
                            rig.forge.can_write, 1)
            assert getattr(verdict, what) == ((value,) if what == "approved_by" else value)
        pages = [c for c in rig.api.requests if c.method == "GET" and "page" in c.query]
        assert pages, "the second page was asked for"
        assert all(c.query.get("per_page") == ["100"] for c in rig.api.requests
                   if c.method == "GET" and c.path.endswith(("reviews", "comments", "status",
                                                             "check-runs")))


def test_mergeable_null_while_github_computes_is_read_again_not_a_conflict(
    tmp_path: Path,
) -> None:
    """https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request: `mergeable` null means a
    background job computes it; ask again later (it is neither true nor false)."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote 1", "b").pr
        assert pr.mergeable is None  # the create's answer: not computed yet
        rig.api.model.computing[pr.number] = 2
        waiting = rig.driver.check(pr)
        assert waiting.pr.mergeable is None and waiting.pr.mergeable_state == "unknown"
        assert waiting.outcome is Outcome.WAITING and not waiting.conflict
        rig.person_approves(pr)
        done = rig.driver.advance(pr, "promote", gitbot_sha=sha)  # still null: merges
        assert done.outcome is Outcome.MERGED and not done.conflict
        assert rig.api.model.computing[pr.number] == 0


def test_opening_a_pull_request_with_no_commits_is_one_clear_error(tmp_path: Path) -> None:
    """https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request: 422 "No commits
    between main and <head>" when the head is already on the base (nothing opened)."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance")
        git(rig.clone, "push", "-q", "origin", f"{sha}:refs/heads/main")  # a person landed it
        with pytest.raises(GitbotError) as refused:
            rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b")
        branch = "gitbot/test/podinfo/1-advance"
        assert str(refused.value) == (
            f"GitHub answered 422 while opening a pull request for {branch}: Validation Failed; "
            f"No commits between main and {branch}")
        assert rig.api.model.pulls == {}


@pytest.mark.parametrize(("steps", "approved"), [
    pytest.param(["dana:APPROVE"], ("dana",), id="approved"),
    pytest.param(["dana:APPROVE", "dana:dismissed"], (), id="approval-dismissed"),
    pytest.param(["dana:APPROVE", "dana:REQUEST_CHANGES"], (), id="changes-after-approval"),
    pytest.param(["dana:REQUEST_CHANGES", "dana:APPROVE"], ("dana",), id="approval-after-changes"),
    pytest.param(["dana:APPROVE", "dana:COMMENT"], ("dana",), id="comment-keeps-approval"),
    pytest.param(["dana:REQUEST_CHANGES", "dana:dismissed", "dana:COMMENT"], (),
                 id="dismissed-changes-no-approval"),
    pytest.param(["eve:APPROVE"], (), id="read-access-does-not-count"),
    pytest.param(["gitbot-bot:APPROVE"], (), id="author-cannot-approve-own-pr"),
])
def test_the_latest_review_per_person_counts(
    tmp_path: Path, steps: list[str], approved: tuple[str, ...],
) -> None:
    """https://docs.github.com/en/rest/pulls/reviews: a dismissed review's state is DISMISSED;
    https://docs.github.com/en/pull-requests/collaborating-with-pull-requests/reviewing-changes-in-pull-requests/about-pull-request-reviews:
    authors cannot approve their own pull requests (422)."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote 1", "b").pr
        for step in steps:
            user, _, event = step.partition(":")
            status, _body = (rig.api.dismiss(pr.number, user) if event == "dismissed"
                             else rig.api.review(pr.number, user, event))
            assert status == (422 if user == "gitbot-bot" else 200)
        progress = rig.driver.check(pr)
        assert progress.approved_by == approved
        assert progress.outcome is Outcome.WAITING


@pytest.mark.parametrize(("before", "after", "outcome"), [
    pytest.param("/gitbot abort", "never mind", Outcome.WAITING, id="command-edited-away"),
    pytest.param("looks odd", "/gitbot abort", Outcome.REJECTED, id="edited-into-a-command"),
])
def test_an_edited_comment_counts_as_it_reads_now(
    tmp_path: Path, before: str, after: str, outcome: Outcome,
) -> None:
    """https://docs.github.com/en/rest/issues/comments#update-an-issue-comment: the list
    answers the current body."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote 1", "b").pr
        status, comment = rig.api.comment(pr.number, "dana", before)
        assert status == 201
        assert rig.api.edit_comment(comment["id"], after)[0] == 200
        assert rig.driver.check(pr).outcome is outcome


def test_a_refused_token_is_not_sent_again_and_a_rotated_one_is_used(tmp_path: Path) -> None:
    """A 401 is one clear error, and the same token is not sent again: GitHub answers repeated
    bad credentials by refusing every login of the account for a while (REST docs, "Failed
    login limit"). The token file is read for each request, so a rotated token (an hourly
    GitHub App installation token) is used without a restart."""
    bare = make_remote(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text("ghp_" + "x" * 36 + "\n")  # a made-up token of GitHub's shape
    users = {"tok-bot": "gitbot-bot", "tok-bot-next": "gitbot-bot"}
    with GitHubAPI(bare, tmp_path, users=users) as api:
        forge = GitHubForge(api.url, "acme/gitops", lambda: token_file.read_text().strip(),
                            seconds_between_requests=0, seconds_between_writes=0)
        with pytest.raises(NeedsHumanError, match=r"^GitHub answered 401 while reading gitbot"):
            forge.own_login()
        with pytest.raises(NeedsHumanError, match="not sent again with the same token"):
            forge.can_write("dana")
        assert [c.status for c in api.requests] == [401]  # the second was never sent
        token_file.write_text("tok-bot\n")  # a person (or a sidecar) fixes the token
        assert forge.own_login() == "gitbot-bot"
        token_file.write_text("tok-bot-next\n")  # rotated an hour later
        assert forge.can_write("dana") is False
        assert [c.headers["authorization"] for c in api.requests[1:]] == [
            "token tok-bot", "token tok-bot-next"]
        assert all("x" * 36 not in f"{c.path}{c.query}" for c in api.requests)


def test_a_github_app_installation_token_knows_its_own_bot_account(tmp_path: Path) -> None:
    """An installation token may not read `GET /user` (403 "Resource not accessible by
    integration"); GraphQL's viewer names its account `<slug>[bot]`, whose own comments and
    reviews never count as a person's."""
    bare = make_remote(tmp_path)
    users = {"ghs-app": "gitbot-app[bot]", "tok-dana": "dana"}
    with GitHubAPI(bare, tmp_path, users=users, permissions={"dana": "write"},
                   prefix="/api/v3") as api:
        clone = tmp_path / "c"
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        git(clone, "commit", "-q", "--allow-empty", "-m", "step")
        git(clone, "push", "-q", "origin", "HEAD:refs/heads/gitbot/test/podinfo/1-promote")
        forge = GitHubForge(api.url, "acme/gitops", "ghs-app", seconds_between_requests=0,
                            seconds_between_writes=0)
        pr = forge.open("gitbot/test/podinfo/1-promote", "main", "promote", "b", [])
        assert pr.author == "gitbot-app[bot]"
        forge.comment(pr, "/gitbot promote")  # e.g. quoting the command in its own text
        assert forge.own_login() == "gitbot-app[bot]"
        assert [(c.method, c.path, c.status) for c in api.requests[-2:]] == [
            ("GET", "/user", 403), ("POST", "/api/graphql", 200)]
        verdict = judge(forge.reviews(pr), forge.comments(pr), forge.own_login(),
                        forge.can_write, 1)
        assert verdict.approved_by == () and verdict.ignored == ()
        assert forge.own_login() == "gitbot-app[bot]" and api.count("POST", "/api/graphql") == 1


@pytest.mark.parametrize(("said", "outcome", "suspend"), [
    pytest.param([("dana", "COMMENT", "/gitbot abort")], Outcome.REJECTED, None,
                 id="abort-in-a-review"),
    pytest.param([("dana", "REQUEST_CHANGES", "/gitbot pause")], Outcome.WAITING, True,
                 id="pause-in-a-review"),
    pytest.param([("dana", "COMMENT", "/gitbot pause"), ("dana", "", "/gitbot resume")],
                 Outcome.WAITING, False, id="comment-after-review-in-time-order"),
    pytest.param([("eve", "COMMENT", "/gitbot abort")], Outcome.WAITING, None,
                 id="read-access-review-ignored"),
])
def test_a_command_in_a_review_counts_like_a_comment(
    tmp_path: Path, said: list[tuple[str, str, str]], outcome: Outcome, suspend: bool | None,
) -> None:
    """https://docs.github.com/en/rest/pulls/reviews#create-a-review-for-a-pull-request: what a
    person types in "Review changes" is the review's body, not an issue comment."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote 1", "b").pr
        for user, event, body in said:
            if event:
                assert rig.api.review(pr.number, user, event, body)[0] == 200
            else:
                rig.person_comments(pr, body, user=user)
        progress = rig.driver.check(pr)
        assert (progress.outcome, progress.suspend) == (outcome, suspend)


@pytest.mark.parametrize(("key", "label"), [
    pytest.param("test/podinfo", "canary:test/podinfo", id="short-kept"),
    pytest.param("payments-production/checkout-frontend-ca", "canary:payments-production/"
                 "checkout-frontend-ca", id="fifty-kept"),
    pytest.param("payments-production/checkout-frontend-canary", "canary:payments-production/"
                 "checkout-front~", id="longer-shortened"),
])
def test_labels_fit_github_s_fifty_characters(tmp_path: Path, key: str, label: str) -> None:
    """GitHub refuses a label name over 50 characters with 422 (semantic-release/github#518,
    github/docs#32156); the step's PR is labelled anyway and merges."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance", key=key)
        proposal = rig.driver.propose(key, 1, "advance", sha, "advance 1", "b")
        done = rig.driver.advance(proposal.pr, "advance", fresh=True, gitbot_sha=sha)
        assert done.outcome is Outcome.MERGED
        labels = rig.api.model.labels[proposal.pr.number]
        assert labels[:2] == ["gitbot", "advance"] and len(labels[2]) <= 50
        assert labels[2].startswith(label) and (len(labels[2]) == 50) == label.endswith("~")


def test_a_refused_label_is_a_warning_not_a_failed_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        rig.api.model.labels_refused = True  # a token that may not write issues
        sha = rig.commit(1, "advance")
        with caplog.at_level(logging.WARNING, logger="gitbot.forge"):
            proposal = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b")
        done = rig.driver.advance(proposal.pr, "advance", fresh=True, gitbot_sha=sha)
        assert done.outcome is Outcome.MERGED
        assert [r.getMessage() for r in caplog.records] == [
            "pull request #1 keeps no labels: GitHub answered 403 while labelling #1: Resource "
            "not accessible by personal access token (the token lacks a permission)"]


def test_a_pull_request_behind_a_strictly_protected_base_is_proposed_again(
    tmp_path: Path,
) -> None:
    """Branch protection "require branches to be up to date before merging"
    (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches#require-status-checks-before-merging):
    after a person's push to the base the PR is `behind` and its merge is refused (409 "Head
    branch is out of date"); no later tick can merge that head, so gitbot proposes the step
    again from the new base; nothing conflicts, and gitbot says so (`behind`, not `conflict`)."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        rig.api.model.strict = True
        sha = rig.commit(1, "advance")
        pr = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b").pr
        person = tmp_path / "person"
        git(tmp_path, "clone", "-q", str(rig.bare), str(person))
        (person / "NOTES.md").write_text("unrelated\n")
        git(person, "add", "-A")
        git(person, "commit", "-q", "-m", "notes")
        git(person, "push", "-q", "origin", "HEAD:main")
        assert rig.forge.get(pr).mergeable_state == "behind"
        progress = rig.driver.advance(pr, "advance", gitbot_sha=sha)
        assert progress.outcome is Outcome.WAITING and progress.behind and progress.again
        assert not progress.conflict
        assert progress.reason == "Head branch is out of date. Review and try the merge again."
        assert rig.api.model.pulls[pr.number]["state"] == "open"


def test_bodies_fit_github_s_65536_characters(tmp_path: Path) -> None:
    """GitHub refuses a pull request or comment body over 65,536 characters (422 "Body is too
    long"); gitbot cuts its text and says so instead of failing the step."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance")
        long = "analysis row\n" * 6000  # 78,000 characters
        pr = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", long).pr
        rig.forge.comment(pr, long)
        body = rig.api.model.pulls[pr.number]["body"]
        comment = rig.api.model.comments[pr.number][0]["body"]
        for text in (body, comment):
            assert len(text) == 65536 and text.endswith("(cut to GitHub's 65,536 characters)")
            assert text.startswith("analysis row\n")
