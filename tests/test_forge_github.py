"""The GitHub forge through PyGithub over real HTTP against the GitHub API test server: the
request budget of a step, rate limits, errors without the token, GitHub Enterprise URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from forgerig import PERMISSIONS, TOKENS, Rig, make_rig
from gitfixtures import git, make_remote
from githubapi import GitHubAPI

from gitbot.adapters.forges import ForgeBudgetError, PRState
from gitbot.adapters.forges.github import GitHubForge
from gitbot.errors import NeedsHumanError
from gitbot.pullrequests import Outcome


def _forge(api: GitHubAPI, token: str = "tok-bot", **kw: object) -> GitHubForge:
    return GitHubForge(api.url, "acme/gitops", token, seconds_between_requests=0,
                       seconds_between_writes=0, **kw)  # type: ignore[arg-type]


def _step(rig: Rig, step: int) -> Outcome:
    sha = rig.commit(step, "advance")
    proposal = rig.driver.propose("test/podinfo", step, "advance", sha, f"advance {step}", "b")
    return rig.driver.advance(proposal.pr, "advance", fresh=True, gitbot_sha=sha).outcome


def test_an_auto_merged_step_costs_at_most_four_requests(tmp_path: Path) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        for step in (1, 2, 3):
            before = rig.api.count()
            assert _step(rig, step) is Outcome.MERGED
            made = [f"{c.method} {c.path}" for c in rig.api.requests[before:]]
            assert len(made) <= 4, made
        assert made == [
            "POST /repos/acme/gitops/pulls",
            "POST /repos/acme/gitops/issues/3/labels",
            f"POST /repos/acme/gitops/statuses/{rig.api.requests[-2].path.rsplit('/', 1)[1]}",
            "PUT /repos/acme/gitops/pulls/3/merge",
        ]
        labels = rig.api.requests[-3].body
        assert labels == ["gitbot", "advance", "canary:test/podinfo"]
        status = rig.api.requests[-2].body
        assert status["context"] == "gitbot/analysis" and status["state"] == "success"
        merge = rig.api.requests[-1].body
        assert merge["merge_method"] == "merge" and len(merge["sha"]) == 40
        assert all(c.headers["authorization"] == "token tok-bot" for c in rig.api.requests)
        assert rig.forge.requests_remaining() == 5000 - rig.api.count()  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [pytest.param(403, id="403"), pytest.param(429, id="429")])
def test_a_secondary_rate_limit_is_waited_out_then_the_step_succeeds(
    tmp_path: Path, status: int
) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        rig.api.throttle(status, retry_after=7)
        assert _step(rig, 1) is Outcome.MERGED
        assert rig.sleeps == [7.0]
        assert [c.status for c in rig.api.requests[:2]] == [status, 201]
        assert rig.api.count("POST", "/repos/acme/gitops/pulls") == 2  # refused, then made once
        assert len(rig.api.model.pulls) == 1


def test_a_spent_budget_stops_requests_until_it_resets(tmp_path: Path) -> None:
    bare = make_remote(tmp_path)
    with GitHubAPI(bare, tmp_path, users=dict(TOKENS), permissions=dict(PERMISSIONS),
                   rate_limit=1) as api:
        forge = _forge(api, clock=lambda: 1_000.0)
        assert forge.can_write("dana") is True  # the last request of the budget
        with pytest.raises(ForgeBudgetError, match="budget spent"):
            forge.can_write("eve")
        assert api.count() == 1  # refused locally, nothing sent


def test_a_primary_rate_limit_answer_is_a_clear_retryable_error(tmp_path: Path) -> None:
    bare = make_remote(tmp_path)
    with GitHubAPI(bare, tmp_path, users=dict(TOKENS), permissions=dict(PERMISSIONS),
                   rate_limit=0) as api:
        forge = _forge(api, clock=lambda: 1_000.0)
        with pytest.raises(ForgeBudgetError, match=r"budget spent .* before reading"):
            forge.own_login()


def test_a_bad_token_is_reported_without_the_token(tmp_path: Path) -> None:
    bare = make_remote(tmp_path)
    secret = "ghp" + "_" + "x" * 36
    with GitHubAPI(bare, tmp_path, users=dict(TOKENS)) as api:
        forge = _forge(api, token=secret)
        with pytest.raises(NeedsHumanError) as raised:
            forge.find("gitbot/test/podinfo/1-advance")
        assert "401" in str(raised.value) and "tokenEnv" in str(raised.value)
        assert secret not in str(raised.value)
        assert api.requests[0].headers["authorization"] == f"token {secret}"
        assert secret not in api.requests[0].path


def test_an_unknown_repository_names_itself(tmp_path: Path) -> None:
    bare = make_remote(tmp_path)
    with GitHubAPI(bare, tmp_path, users=dict(TOKENS)) as api:
        forge = GitHubForge(api.url, "acme/missing", "tok-bot", seconds_between_requests=0,
                            seconds_between_writes=0)
        with pytest.raises(NeedsHumanError, match="acme/missing exist"):
            forge.find("gitbot/x/y/1-advance")


def test_github_enterprise_api_url_with_a_path_prefix(tmp_path: Path) -> None:
    bare = make_remote(tmp_path)
    clone = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    git(clone, "push", "-q", "origin", "HEAD:refs/heads/gitbot/test/podinfo/1-advance")
    with GitHubAPI(bare, tmp_path, users=dict(TOKENS), prefix="/api/v3") as api:
        forge = _forge(api)
        assert api.url.endswith("/api/v3")
        git(clone, "commit", "-q", "--allow-empty", "-m", "x")
        git(clone, "push", "-q", "origin", "HEAD:refs/heads/gitbot/test/podinfo/1-advance")
        pr = forge.open("gitbot/test/podinfo/1-advance", "main", "t", "b", [])
        found = forge.find(pr.branch)
        assert found is not None and found.number == forge.get(pr).number
        assert forge.get(pr).state is PRState.OPEN
        for n in range(101):  # a second page: its Link URL carries /api/v3 too
            api.comment(pr.number, "dana", f"note {n}")
        assert len(forge.comments(pr)) == 101
        assert [c.query.get("page") for c in api.requests[-2:]] == [None, ["2"]]
        assert all(c.path.startswith("/repos/acme/gitops") for c in api.requests)


def test_reading_reviews_comments_and_checks(tmp_path: Path) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote", "b").pr
        rig.api.review(pr.number, "dana", "REQUEST_CHANGES")
        rig.api.comment(pr.number, "dana", "/gitbot pause")
        rig.api.check_run(pr.head_sha, "build", "in_progress")
        assert [(r.user, r.state) for r in rig.forge.reviews(pr)] == [
            ("dana", "CHANGES_REQUESTED")]
        assert [(c.user, c.body) for c in rig.forge.comments(pr)] == [("dana", "/gitbot pause")]
        checks = rig.forge.checks(pr)
        assert checks.state.value == "pending" and checks.details == ("build: in_progress",)
        rig.api.check_run(pr.head_sha, "build", "completed", "failure")
        assert rig.forge.checks(pr).details == ("build: failure",)
        assert rig.forge.own_login() == "gitbot-bot"


def test_rereading_an_unchanged_pull_request_is_a_free_conditional_request(
    tmp_path: Path,
) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "promote")
        pr = rig.driver.propose("test/podinfo", 1, "promote", sha, "promote", "b").pr
        first = rig.forge.get(pr)
        remaining = rig.api.rate_remaining
        assert rig.forge.get(pr) == first
        last = rig.api.requests[-1]
        assert (last.method, last.status) == ("GET", 304)
        assert last.headers["if-none-match"].startswith('"')
        assert rig.api.rate_remaining == remaining  # a 304 costs nothing
        rig.api.close(pr.number, "dana")
        assert rig.forge.get(pr).state is PRState.CLOSED
        assert rig.api.requests[-1].status == 200


def test_the_token_is_not_in_the_setup_repr() -> None:
    from gitbot.adapters.forges import GitHubSetup

    setup = GitHubSetup("https://api.github.com", "acme/gitops", "ghp" + "_" + "s" * 36)
    assert "ghp" + "_" not in repr(setup) and "acme/gitops" in repr(setup)


def test_opening_a_pull_request_that_already_exists_adopts_it(tmp_path: Path) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance")
        first = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b").pr
        again = rig.forge.open(first.branch, "main", "advance 1", "b", ["gitbot"])
        assert again.number == first.number and len(rig.api.model.pulls) == 1
        refused = [c for c in rig.api.requests if c.status == 422]
        assert [c.path for c in refused] == ["/repos/acme/gitops/pulls"]
