"""The GitHub API test server itself, driven by PyGithub (unpatched) over real HTTP: GitHub's
answers for self-approval, a stale merge sha, a conflicting PR, a duplicate PR, and a merge that
is a real commit on the base branch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from forgerig import PERMISSIONS, TOKENS
from gitfixtures import Clone, git, remote_head
from github import Auth, Github, GithubException
from github.Repository import Repository
from githubapi import GitHubAPI


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[GitHubAPI, Clone]]:
    from gitfixtures import make_remote

    bare = make_remote(tmp_path)
    clone = Clone(bare, tmp_path / "clone")
    git(clone.root, "checkout", "-q", "-b", "feature")
    (clone.root / "apps/podinfo/vs.yaml").write_text("route:\n  primary: 80\n  canary: 20\n")
    git(clone.root, "commit", "-qam", "advance 20")
    git(clone.root, "push", "-q", "origin", "feature")
    with GitHubAPI(bare, tmp_path, users=dict(TOKENS), permissions=dict(PERMISSIONS)) as api:
        yield api, clone


def _repo(api: GitHubAPI, token: str) -> Repository:
    """Lazy, as gitbot's forge is: objects are fetched only when read."""
    gh = Github(base_url=api.url, auth=Auth.Token(token), seconds_between_requests=0,
                seconds_between_writes=0, retry=None, lazy=True)
    return gh.get_repo("acme/gitops")


def test_self_approval_is_refused_with_422(server: tuple[GitHubAPI, Clone]) -> None:
    api, _clone = server
    pr = _repo(api, "tok-bot").create_pull(base="main", head="feature", title="advance")
    with pytest.raises(GithubException) as refused:
        pr.create_review(event="APPROVE")  # what gitbot never does
    assert refused.value.status == 422
    assert refused.value.data["errors"] == ["Can not approve your own pull request"]
    review = _repo(api, "tok-dana").get_pull(pr.number).create_review(event="APPROVE")
    assert review.state == "APPROVED" and review.user.login == "dana"


def test_a_stale_sha_is_409_and_the_right_one_merges_for_real(
    server: tuple[GitHubAPI, Clone],
) -> None:
    api, _clone = server
    repo = _repo(api, "tok-bot")
    pr = repo.create_pull(base="main", head="feature", title="advance")
    with pytest.raises(GithubException) as stale:
        pr.merge(sha="0" * 40, merge_method="squash")
    assert stale.value.status == 409
    assert stale.value.data["message"].startswith("Head branch was modified")
    done = pr.merge(sha=pr.head.sha, merge_method="squash")
    assert done.merged and done.sha == remote_head(api.bare)
    assert git(api.bare, "log", "-1", "--format=%s", "main") == "advance (#1)"
    again = repo.get_pull(pr.number)
    assert again.merged and again.state == "closed" and again.merge_commit_sha == done.sha
    with pytest.raises(GithubException) as closed:
        pr.merge()
    assert closed.value.status == 405


def test_a_conflicting_pull_request_is_not_mergeable(server: tuple[GitHubAPI, Clone]) -> None:
    api, _clone = server
    other = Clone(api.bare, api.tmp / "other")
    other.change("apps/podinfo/vs.yaml", "route:\n  primary: 50\n  canary: 50\n")
    repo = _repo(api, "tok-bot")
    pr = repo.create_pull(base="main", head="feature", title="advance")
    fresh = repo.get_pull(pr.number)
    assert fresh.mergeable is False and fresh.mergeable_state == "dirty"
    with pytest.raises(GithubException) as refused:
        pr.merge(sha=pr.head.sha)
    assert refused.value.status == 405


def test_one_open_pull_request_per_head_and_listing_by_head(
    server: tuple[GitHubAPI, Clone],
) -> None:
    api, _clone = server
    repo = _repo(api, "tok-bot")
    pr = repo.create_pull(base="main", head="feature", title="advance")
    with pytest.raises(GithubException) as duplicate:
        repo.create_pull(base="main", head="feature", title="again")
    assert duplicate.value.status == 422
    assert "already exists" in duplicate.value.data["errors"][0]["message"]
    listed = list(repo.get_pulls(state="all", head="acme:feature"))
    assert [p.number for p in listed] == [pr.number]
    assert list(repo.get_pulls(state="all", head="acme:nothing")) == []
    assert list(repo.get_pulls(state="all", head="other:feature")) == []
    # GitHub ignores a head filter without `owner:` (every PR is listed)
    assert [p.number for p in repo.get_pulls(state="all", head="nothing")] == [pr.number]


def test_a_listed_pull_request_lacks_the_fields_only_get_has(
    server: tuple[GitHubAPI, Clone],
) -> None:
    """https://docs.github.com/en/rest/pulls/pulls#list-pull-requests ("pull-request-simple")."""
    api, _clone = server
    pr = _repo(api, "tok-bot").create_pull(base="main", head="feature", title="advance")
    pr.merge(sha=pr.head.sha)
    status, listed = api.model.list_pulls({"state": ["all"]})
    assert status == 200 and listed[0]["merged_at"] and listed[0]["merge_commit_sha"]
    assert not {"merged", "mergeable", "mergeable_state", "merged_by"} & set(listed[0])
    assert api.model.get_pull(pr.number)[1]["merged"] is True


def test_required_checks_block_the_merge_until_green(server: tuple[GitHubAPI, Clone]) -> None:
    api, _clone = server
    api.model.required_contexts = ["ci"]
    repo = _repo(api, "tok-bot")
    pr = repo.create_pull(base="main", head="feature", title="advance")
    with pytest.raises(GithubException) as expected:
        pr.merge(sha=pr.head.sha)
    assert expected.value.status == 405 and "is expected" in expected.value.data["message"]
    commit = repo.get_commit(pr.head.sha)
    commit.create_status("failure", context="ci")
    combined = commit.get_combined_status()
    assert combined.state == "failure" and combined.total_count == 1
    assert repo.get_pull(pr.number).mergeable_state == "blocked"
    commit.create_status("success", context="ci")
    assert repo.get_pull(pr.number).mergeable_state == "clean"
    assert pr.merge(sha=pr.head.sha).merged


def test_a_throttled_request_answers_403_with_retry_after(server: tuple[GitHubAPI, Clone]) -> None:
    api, _clone = server
    api.throttle(403, retry_after=5)
    with pytest.raises(GithubException) as limited:
        _repo(api, "tok-bot").get_collaborator_permission("dana")
    assert limited.value.status == 403 and limited.value.headers["retry-after"] == "5"
    assert _repo(api, "tok-bot").get_collaborator_permission("dana") == "write"
    assert [c.status for c in api.requests] == [403, 200]
