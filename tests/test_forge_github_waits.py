"""Why a step PR waits on GitHub, as the driver reads it from the GitHub API test server (real
HTTP, a real bare repository): a push to main that conflicts (`mergeable: false`, "dirty") is
not the same as one that only moved main ahead of a PR that branch protection wants up to date
("behind", merge refused "Head branch is out of date"); a required check that never reports
("blocked", 405 'Required status check "ci" is expected.') is asked about once, not every tick,
while a red check and missing required reviews keep their behaviour. Each case counts the merge
requests (`PUT .../merge`) GitHub received.

GitHub's pages: https://docs.github.com/en/rest/pulls/pulls#merge-a-pull-request,
https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches#require-status-checks-before-merging
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from forgerig import Rig, make_rig
from gitfixtures import git

from gitbot.adapters.forges import PullRequest
from gitbot.core.pr_held import held_reason
from gitbot.pullrequests import Outcome, Progress

KEY = "test/podinfo"
MERGES = "/repos/acme/gitops/pulls/1/merge"


def _push_to_main(rig: Rig, path: str, text: str, subject: str) -> None:
    person = rig.tmp / "person"
    if not person.exists():
        git(rig.tmp, "clone", "-q", str(rig.bare), str(person))
    git(person, "pull", "-q", "origin", "main")
    target = person / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(person, "add", "-A")
    git(person, "commit", "-q", "-m", subject)
    git(person, "push", "-q", "origin", "HEAD:main")


def conflicting_push(rig: Rig, pr: PullRequest) -> None:
    _push_to_main(rig, "apps/podinfo/vs.yaml", "weights by hand\n", "weights by hand")


def unrelated_push(rig: Rig, pr: PullRequest) -> None:
    _push_to_main(rig, "NOTES.md", "release notes\n", "notes")


def strict_and_unrelated_push(rig: Rig, pr: PullRequest) -> None:
    assert rig.api is not None
    rig.api.model.strict = True  # "require branches to be up to date before merging"
    unrelated_push(rig, pr)


def required_check(rig: Rig, pr: PullRequest) -> None:
    assert rig.api is not None
    rig.api.model.required_contexts = ["ci"]  # and ci never reports


def required_check_red(rig: Rig, pr: PullRequest) -> None:
    rig.red_check(pr)  # required, and failing


def required_review(rig: Rig, pr: PullRequest) -> None:
    assert rig.api is not None
    rig.api.model.required_approvals = 1


EXPECTED = held_reason()


@pytest.mark.parametrize(("setup", "outcome", "cause", "reason", "merges"), [
    pytest.param(conflicting_push, Outcome.WAITING, "conflict",
                 "conflicts with the base branch", 0, id="dirty-conflict"),
    pytest.param(strict_and_unrelated_push, Outcome.WAITING, "behind",
                 "Head branch is out of date. Review and try the merge again.", 3,
                 id="behind-strict-protection-no-conflict"),
    pytest.param(unrelated_push, Outcome.MERGED, "", "merged", 1,
                 id="base-moved-unprotected-merges"),
    pytest.param(required_check, Outcome.WAITING, "held", EXPECTED, 1,
                 id="blocked-required-check-never-reports-asked-once"),
    pytest.param(required_check_red, Outcome.WAITING, "", "checks red: ci: failure", 0,
                 id="blocked-required-check-red-never-asked"),
    pytest.param(required_review, Outcome.WAITING, "",
                 "At least 1 approving review is required by reviewers with write access.", 3,
                 id="blocked-required-review-asked-every-tick"),
])
def test_why_a_step_pr_waits_on_github(
    tmp_path: Path, setup: Callable[[Rig, PullRequest], None], outcome: Outcome, cause: str,
    reason: str, merges: int,
) -> None:
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance")
        pr = rig.driver.propose(KEY, 1, "advance", sha, "advance 1", "b").pr
        setup(rig, pr)
        held, seen = "", []
        for _tick in range(3):
            progress = rig.driver.advance(pr, "advance", gitbot_sha=sha, held=held)
            held = progress.held
            seen.append(progress)
            if progress.outcome is Outcome.MERGED:
                break
        last = seen[-1]
        assert (last.outcome, _cause(last), last.reason) == (outcome, cause, reason)
        assert rig.api.count("PUT", MERGES) == merges


def _cause(progress: Progress) -> str:
    if progress.conflict:
        assert not progress.behind
        return "conflict"
    if progress.behind:
        return "behind"
    return "held" if progress.held else ""


def test_a_held_step_is_asked_about_again_once_a_check_reports(tmp_path: Path) -> None:
    """Held (ci never reported): an unrelated status that reports changes what GitHub answers
    by, so the merge is asked once more (refused again: held again, at the same head); once ci
    reports green GitHub says "clean" and the step merges."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        rig.api.model.required_contexts = ["ci"]
        sha = rig.commit(1, "advance")
        pr = rig.driver.propose(KEY, 1, "advance", sha, "advance 1", "b").pr
        first = rig.driver.advance(pr, "advance", fresh=True, gitbot_sha=sha)
        assert first.outcome is Outcome.WAITING and first.held.startswith(f"{sha}:")
        assert first.refused == 'Required status check "ci" is expected.'
        assert first.reason == held_reason('Required status check "ci" is expected.')
        same = rig.driver.advance(pr, "advance", gitbot_sha=sha, held=first.held)
        assert same.held == first.held and rig.api.count("PUT", MERGES) == 1
        rig.api.status(sha, "lint", "success")  # not required
        again = rig.driver.advance(pr, "advance", gitbot_sha=sha, held=same.held)
        assert again.held not in ("", first.held) and again.held.startswith(f"{sha}:")
        assert rig.api.count("PUT", MERGES) == 2
        rig.green_check(pr)
        done = rig.driver.advance(pr, "advance", gitbot_sha=sha, held=again.held)
        assert done.outcome is Outcome.MERGED and rig.api.count("PUT", MERGES) == 3
