"""A step PR that GitHub will not merge yet, in whole rollouts (gitbot's real app, the GitHub API
test server over real HTTP, a real bare repository, the stand-in Prometheus):

- "behind": main's protection requires PRs to be up to date and a person's unrelated push moved
  main ahead. Nothing conflicts, and the closing comment and the log say so; the step is
  proposed again from the new main (`-r2`) and merged. A restart between opening `-r2` and
  closing the PR it replaces closes it with the same (behind) comment.
- a required check that never reports ("blocked"): gitbot asks GitHub to merge once, says so
  once (a warning and one comment on the PR), then waits without asking again every tick; once
  the check reports green the step merges.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prfast import FastPR, fast_pr

from gitbot.adapters.forges import PRState, PullRequest
from gitbot.core.drift import PersonCommit
from gitbot.core.pr_held import held_comment
from gitbot.core.pr_supersede import superseded_comment

NOTES = "notes for the release"


def _behind_comment(sha: str, again: PullRequest, step: int) -> str:
    return superseded_comment(
        "main", PersonCommit(sha, "Dana Developer", NOTES), conflict=True, behind=True,
        replacement=f"#{again.number} {again.url}",
        step=f"step {step} (advance canary weight 20)")


def _behind_main(rig: FastPR) -> str:
    rig.github.model.strict = True  # "require branches to be up to date before merging"
    return rig.dev.commit_files({"NOTES.md": "release notes\n"}, NOTES)


def _merges(rig: FastPR, pr: PullRequest) -> int:
    return rig.github.count("PUT", f"/repos/acme/gitops/pulls/{pr.number}/merge")


def test_a_step_pr_behind_a_protected_main_is_proposed_again_and_said_not_to_conflict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with fast_pr(tmp_path, "github") as rig:
        old = rig.waiting_step()
        sha = _behind_main(rig)
        with caplog.at_level(logging.WARNING, logger="gitbot.reconciler"):
            rig.reconcile()

        again = rig.driver.forge.find(old.branch + "-r2")
        assert again is not None and again.state is PRState.MERGED
        step = int(old.branch.rsplit("/", 1)[1].split("-")[0])  # .../4-advance
        comment = rig.superseded(old)
        assert comment == _behind_comment(sha, again, step), comment
        assert "conflict" not in comment.replace("does not conflict", "")
        said = [r.getMessage() for r in caplog.records if f"#{old.number}" in r.getMessage()]
        assert said == [f'test/podinfo: pull request #{old.number} is behind `main` after '
                        f'{sha[:12]} (Dana Developer: "{NOTES}") (no conflict; branch '
                        f"protection requires it up to date); proposing step {step} again"], said
        assert _merges(rig, old) == 1  # GitHub's refusal ("Head branch is out of date")
        assert NOTES in rig.mainline()  # the person's commit stays


def test_a_restart_closes_the_pr_left_behind_with_the_behind_comment(tmp_path: Path) -> None:
    with fast_pr(tmp_path, "github") as rig:
        old = rig.waiting_step()
        sha = _behind_main(rig)
        rig.stop_at("after-open")  # -r2 opened and recorded; the PR it replaces still open
        ref = rig.state().pull_request
        assert ref is not None and ref.branch == old.branch + "-r2" and ref.again == "behind"
        assert rig.pr_state(old.branch) is PRState.OPEN

        rig.reconcile()  # the restart

        again = rig.driver.forge.find(ref.branch)
        assert again is not None and again.state is PRState.MERGED
        assert rig.superseded(old) == _behind_comment(sha, again, ref.step)


def test_a_required_check_that_never_reports_is_asked_about_once_not_every_tick(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with fast_pr(tmp_path, "github") as rig:
        rig.at_weight(10)
        rig.github.model.required_contexts = ["ci"]  # CI that never reports on gitbot's PRs
        with caplog.at_level(logging.DEBUG, logger="gitbot.reconciler"):
            for _tick in range(5):
                rig.reconcile()
        pr = rig.open_pr()
        assert pr.state is PRState.OPEN and rig.state().pending is not None  # the step waits
        assert not any("weight 20" in s for s in rig.mainline())
        assert _merges(rig, pr) == 1  # asked once; GitHub refused (405)
        told = 'Required status check "ci" is expected.'
        assert rig.comments(pr) == [held_comment("main", told)]
        warned = [r.getMessage() for r in caplog.records
                  if r.levelno >= logging.INFO and f"#{pr.number}" in r.getMessage()]
        assert warned == [f"test/podinfo: pull request #{pr.number} waits: a required check "
                          f"has not reported (GitHub: {told}); gitbot does not ask GitHub to "
                          "merge again until the checks change"], warned
        ref = rig.state().pull_request
        assert ref is not None and ref.held.startswith(pr.head_sha)

        rig.green_check(pr)
        rig.until(lambda: rig.pr_state(pr.branch) is PRState.MERGED)
        assert _merges(rig, pr) == 2
        assert rig.comments(pr) == [held_comment("main", told)]  # told once
