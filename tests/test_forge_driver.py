"""The pull-request driver on both forges, over real bare remotes and the GitHub API server:
auto-merged steps, promotions held for people, `/gitbot` commands, rejection, red checks,
restarts and a person's commit on gitbot's branch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from forgerig import Rig, make_rig
from gitfixtures import git, remote_file, write

from gitbot.adapters.forges import PRState
from gitbot.adapters.git_errors import GitConflictError
from gitbot.pullrequests import Outcome, Policy, branch_name

KINDS = [pytest.param("local", id="local"), pytest.param("github", id="github")]


@pytest.fixture(params=KINDS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    with make_rig(request.param, tmp_path) as made:
        yield made


def _propose(rig: Rig, step: int, action: str, **kw: str) -> tuple[str, object]:
    sha = rig.commit(step, action, **kw)
    proposal = rig.driver.propose("test/podinfo", step, action, sha, f"{action} {step}", "body")
    return sha, proposal


def test_an_auto_merged_step_lands_on_main_with_its_trailers(rig: Rig) -> None:
    sha = rig.commit(3, "advance")
    proposal = rig.driver.propose("test/podinfo", 3, "advance", sha, "advance 3", "why")
    assert proposal.fresh and proposal.pr.branch == "gitbot/test/podinfo/3-advance"
    progress = rig.driver.advance(proposal.pr, "advance", fresh=True, gitbot_sha=sha)
    assert progress.outcome is Outcome.MERGED
    assert remote_file(rig.bare, "apps/podinfo/vs.yaml") == "step 3 advance\n"
    body = git(rig.bare, "log", "-1", "--format=%B", "main")
    assert "Gitbot-Step: 3" in body and "(#1)" in body  # the merge commit carries the trailers
    assert rig.branches() == []  # the merged branch is deleted
    assert rig.forge.find(proposal.pr.branch).state is PRState.MERGED  # type: ignore[union-attr]


def test_a_promotion_waits_for_an_approving_review_then_merges(rig: Rig) -> None:
    sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    waiting = rig.driver.advance(pr, "promote", fresh=True)
    assert waiting.outcome is Outcome.WAITING and "approving review" in waiting.reason
    assert rig.main_log()[0] == "seed"
    again = rig.driver.advance(pr, "promote")
    assert again.outcome is Outcome.WAITING
    rig.person_approves(pr, "dana")
    merged = rig.driver.advance(pr, "promote", gitbot_sha=sha)
    assert merged.outcome is Outcome.MERGED and merged.approved_by == ("dana",)
    assert remote_file(rig.bare, "apps/podinfo/vs.yaml") == "step 7 promote\n"


def test_gitbot_never_attempts_to_approve_its_own_pull_request(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    for _ in range(3):
        assert rig.driver.advance(pr, "promote").outcome is Outcome.WAITING
    if rig.api is not None:
        assert rig.api.count("POST", "/repos/acme/gitops/pulls/1/reviews") == 0
        assert rig.api.review(pr.number, "gitbot-bot")[0] == 422  # GitHub would refuse it
    else:
        assert rig.forge.reviews(pr) == []


@pytest.mark.parametrize(
    ("body", "user", "outcome"),
    [
        pytest.param("/gitbot promote", "dana", Outcome.MERGED, id="promote-by-writer"),
        pytest.param("/gitbot abort\nbad latency", "dana", Outcome.REJECTED, id="abort"),
        pytest.param("LGTM /gitbot promote", "dana", Outcome.WAITING, id="not-a-command"),
    ],
)
def test_gitbot_commands_in_comments(rig: Rig, body: str, user: str, outcome: Outcome) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.person_comments(pr, body, user)
    assert rig.driver.advance(pr, "promote").outcome is outcome


def test_a_promote_comment_by_someone_without_write_access_is_ignored(tmp_path: Path) -> None:
    with make_rig("github", tmp_path) as rig:
        _sha, proposal = _propose(rig, 7, "promote")
        pr = proposal.pr  # type: ignore[attr-defined]
        rig.person_comments(pr, "/gitbot promote", "eve")  # eve can only read
        assert rig.driver.advance(pr, "promote").outcome is Outcome.WAITING
        rig.person_approves(pr, "eve")  # nor does her approval count
        assert rig.driver.advance(pr, "promote").outcome is Outcome.WAITING


def test_pause_and_resume_comments_map_to_suspend(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.person_comments(pr, "/gitbot pause")
    assert rig.driver.advance(pr, "promote").suspend is True
    rig.person_comments(pr, "/gitbot resume")
    assert rig.driver.advance(pr, "promote").suspend is False


def test_a_paused_step_pr_waits_until_resumed(rig: Rig) -> None:
    sha, proposal = _propose(rig, 3, "advance")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.person_comments(pr, "/gitbot pause")
    progress = rig.driver.advance(pr, "advance", gitbot_sha=sha)
    assert (progress.outcome, progress.suspend) == (Outcome.WAITING, True)
    assert progress.reason.startswith("paused by `/gitbot pause`")
    assert not any("advance step 3" in s for s in rig.main_log())
    rig.person_comments(pr, "/gitbot resume")
    assert rig.driver.advance(pr, "advance", gitbot_sha=sha).outcome is Outcome.MERGED


def test_the_local_approve_releases_a_promotion(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    progress = rig.driver.advance(pr, "promote", local_approval="dana")
    assert progress.outcome is Outcome.MERGED and progress.approved_by == ("dana",)


def test_a_pull_request_closed_by_a_person_is_a_rejection(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.person_closes(pr)
    progress = rig.driver.advance(pr, "promote")
    assert progress.outcome is Outcome.REJECTED and "closed" in progress.reason
    assert rig.main_log()[0] == "seed"


def test_a_red_required_check_holds_the_step_until_it_is_green(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 4, "advance")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.red_check(pr)
    waiting = rig.driver.advance(pr, "advance")
    assert waiting.outcome is Outcome.WAITING and "ci: failure" in waiting.reason
    assert rig.main_log()[0] == "seed"
    rig.green_check(pr)
    assert rig.driver.advance(pr, "advance").outcome is Outcome.MERGED


def test_a_restart_between_opened_and_merged_neither_duplicates_nor_merges_twice(
    rig: Rig,
) -> None:
    sha = rig.commit(5, "advance")
    first = rig.driver.propose("test/podinfo", 5, "advance", sha, "advance 5", "why")
    # the process dies here; the restarted gitbot re-commits the same change (a new sha)
    again = rig.commit(5, "advance")
    second = rig.driver.propose("test/podinfo", 5, "advance", again, "advance 5", "why")
    assert not second.fresh and second.pr.number == first.pr.number
    assert rig.driver.advance(second.pr, "advance").outcome is Outcome.MERGED
    found = rig.driver.find("test/podinfo", 5, "advance")
    assert found is not None and found.state is PRState.MERGED
    assert rig.driver.advance(found, "advance").outcome is Outcome.MERGED  # no second merge
    assert rig.main_log().count("podinfo.test: advance step 5 (#1)") == 1
    if rig.api is not None:
        assert rig.api.count("POST", "/repos/acme/gitops/pulls") == 1
        assert rig.api.count("PUT") == 1


def test_a_restart_after_the_merge_finds_the_merged_pull_request(rig: Rig) -> None:
    sha = rig.commit(5, "advance")
    first = rig.driver.propose("test/podinfo", 5, "advance", sha, "advance 5", "why")
    assert rig.driver.advance(first.pr, "advance", fresh=True).outcome is Outcome.MERGED
    assert rig.branches() == []  # deleted after the merge
    # the process died before it recorded the merge; the state branch knows the PR was opened
    again = rig.driver.propose("test/podinfo", 5, "advance", sha, "advance 5", "why", known=True)
    assert again.pr.state is PRState.MERGED and again.pr.number == first.pr.number
    assert rig.driver.advance(again.pr, "advance").outcome is Outcome.MERGED
    assert rig.branches() == []
    if rig.api is not None:
        assert rig.api.count("POST", "/repos/acme/gitops/pulls") == 1


def test_a_persons_commit_on_the_pr_branch_is_kept_and_reported(rig: Rig) -> None:
    sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    person = rig.tmp / "person"
    git(rig.tmp, "clone", "-q", "-b", pr.branch, str(rig.bare), str(person))
    write(person, "apps/podinfo/note.txt", "reviewed\n")
    git(person, "add", "-A")
    git(person, "commit", "-q", "-m", "note")
    git(person, "push", "-q", "origin", pr.branch)
    again = rig.driver.propose("test/podinfo", 7, "promote", sha, "promote 7", "body")
    assert again.foreign and again.pr.number == pr.number
    progress = rig.driver.advance(pr, "promote", local_approval="dana", gitbot_sha=sha)
    assert progress.outcome is Outcome.MERGED and progress.foreign
    assert remote_file(rig.bare, "apps/podinfo/note.txt") == "reviewed\n"
    noted = git(person, "rev-parse", "HEAD")
    assert [(c[0], c[2]) for c in progress.added] == [(noted, "note")]  # named for the report


def test_a_push_to_main_that_conflicts_is_reported_as_a_conflict(rig: Rig) -> None:
    sha, proposal = _propose(rig, 4, "advance", text="weight: 20\n")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.red_check(pr)  # the step waits
    person = rig.tmp / "person"
    git(rig.tmp, "clone", "-q", str(rig.bare), str(person))
    write(person, "apps/podinfo/vs.yaml", "weight: 10  # by hand\n")
    git(person, "add", "-A")
    git(person, "commit", "-q", "-m", "by hand")
    git(person, "push", "-q", "origin", "main")
    rig.green_check(pr)
    progress = rig.driver.advance(pr, "advance", gitbot_sha=sha)
    assert (progress.outcome, progress.conflict) == (Outcome.WAITING, True)
    assert progress.reason.startswith("conflicts with the base branch")
    assert rig.main_log()[0] == "by hand"  # nothing merged over it


def test_gitbot_never_forces_over_a_rewritten_branch(rig: Rig) -> None:
    rig.commit(8, "advance")
    branch = branch_name("test/podinfo", 8, "advance")
    git(rig.clone, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    other = rig.commit(8, "advance", text="a different change\n", key="test/other")
    with pytest.raises(GitConflictError, match="does not force-push"):
        rig.driver.propose("test/podinfo", 8, "advance", other, "advance 8", "b")


def test_a_rollback_merges_at_once_even_when_review_lists_everything(tmp_path: Path) -> None:
    with make_rig("local", tmp_path, Policy(review=frozenset({"advance", "promote"}))) as rig:
        sha, proposal = _propose(rig, 9, "rollback")
        pr = proposal.pr  # type: ignore[attr-defined]
        progress = rig.driver.advance(pr, "rollback", fresh=True, urgent=True, gitbot_sha=sha)
        assert progress.outcome is Outcome.MERGED


def test_a_superseded_pull_request_is_closed_with_a_comment(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    rig.driver.supersede(pr, "#2 (new revision podinfo:6.1.0)")
    assert rig.forge.get(pr).state is PRState.CLOSED
    comments = rig.forge.comments(pr)
    assert comments[-1].body.startswith("Superseded by #2 (new revision podinfo:6.1.0)")
    assert rig.branches() == []


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_each_merge_method_lands_a_real_commit(tmp_path: Path, method: str) -> None:
    for kind in ("local", "github"):
        with make_rig(kind, tmp_path / kind, Policy(merge_method=method)) as rig:
            sha, proposal = _propose(rig, 2, "advance")
            progress = rig.driver.advance(proposal.pr, "advance", fresh=True,  # type: ignore
                                          gitbot_sha=sha)
            assert progress.outcome is Outcome.MERGED
            parents = git(rig.bare, "log", "-1", "--format=%P", "main").split()
            assert len(parents) == (2 if method == "merge" else 1), kind
            trailers = git(rig.bare, "log", "-1", "--format=%B", "main")
            assert "Gitbot-Step: 2" in trailers, kind


def test_the_analysis_verdict_is_the_gitbot_analysis_status_of_the_head(rig: Rig) -> None:
    _sha, proposal = _propose(rig, 7, "promote")
    pr = proposal.pr  # type: ignore[attr-defined]
    assert rig.forge.checks(pr).state.value == "green"
    rig.driver.report_analysis(pr, False, "request-success-rate 97.1% < 99%")
    checks = rig.forge.checks(pr)
    assert checks.state.value == "red" and checks.details == ("gitbot/analysis: failure",)
