"""End to end in pull-request mode on the local forge (any Git remote): every change is a branch
and a PR that gitbot merges itself, the promotion waits in WaitingPromotion for people, a failing
version rolls back through a merged revert PR, people can refuse, and a restart between "PR
opened" and "PR merged" neither duplicates nor double-merges."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e_helpers import (
    PROMOTION_SUBJECTS,
    STEP_SUBJECTS,
    events,
    head,
    initialize,
    reconcile_process,
)
from prworld import git, plain, pr_world, wait_for_promotion

from gitbot.adapters.forges import PRState
from gitbot.approval import approve_promotion, reject_promotion
from gitbot.core.state import Traffic
from gitbot.sim.gitops import IMAGE, CanaryOptions
from gitbot.sim.scenario import Behaviour

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

KEY = "test/podinfo"


def test_promotion_waits_for_gitbot_approve_then_succeeds(tmp_path: Path) -> None:
    with pr_world(tmp_path) as prw:
        world = prw.world
        wait_for_promotion(prw)
        pr = prw.open_pr()
        world.reconcile()  # the analysis keeps running while the PR waits
        assert world.state().phase.value == "WaitingPromotion"
        assert prw.open_pr().number == pr.number  # never a second PR
        assert len(world.state().ticks) >= 6
        body = prw.driver.forge.find(pr.branch)
        assert body is not None

        ok, message = approve_promotion(world.app, KEY)
        assert ok, message
        world.run_until({"Succeeded"})

        assert plain(prw.mainline()[1:]) == STEP_SUBJECTS + PROMOTION_SUBJECTS
        assert prw.pr_state(pr.branch) is PRState.MERGED
        end = head(world)
        assert (end.primary_image, end.traffic, end.canary_replicas) == (
            f"{IMAGE}:6.0.1", Traffic(100, 0), 0)
        assert world.status()["pullRequest"] is None
        merge = prw.body()
        assert "Gitbot-Canary: test/podinfo" in merge and "Gitbot-Action: scale-down" in merge
        assert "Promotion completed! Scaling down podinfo.test" in events(world)
        leftover = git(world.dev.remote, "for-each-ref", "--format=%(refname:short)",
                       "refs/heads/gitbot/test/")
        assert leftover == ""  # every merged branch deleted


def test_a_failing_version_rolls_back_through_a_merged_revert_pr(tmp_path: Path) -> None:
    with pr_world(tmp_path) as prw:
        world = prw.world
        initialize(world)
        world.dev.release("6.0.2")
        world.run_until({"Failed"})
        subjects = plain(prw.mainline())
        # How many weight steps land before the fifth failed check depends on when Prometheus
        # first has a rate for the new pods; whatever that is, the revert undoes all of them.
        run = subjects[1:-1]
        assert len(run) >= 2 and run == STEP_SUBJECTS[:len(run)], subjects
        assert subjects[-1].startswith(
            f"podinfo.test: rollback: revert {len(run)} commits (failed"), subjects[-1]
        assert not any("promote" in s for s in subjects)
        body = prw.body()
        reverted = body.split("Reverts:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert [line.split(" ", 2)[2].rsplit(" (#", 1)[0] for line in reverted] == run[::-1]
        end = head(world)
        assert (end.traffic, end.canary_replicas, end.primary_image) == (
            Traffic(100, 0), 0, f"{IMAGE}:6.0.0")
        assert world.status()["pullRequest"] is None


def test_pause_then_an_approving_review_and_resume_release_the_promotion(tmp_path: Path) -> None:
    with pr_world(tmp_path) as prw:
        wait_for_promotion(prw)
        pr = prw.open_pr()
        prw.comment(pr, "/gitbot promote", user="")  # nobody: ignored
        prw.world.reconcile()
        assert prw.world.state().phase.value == "WaitingPromotion"
        prw.comment(pr, "/gitbot pause")
        prw.world.reconcile()
        prw.approve(pr)
        prw.world.reconcile()  # paused: approved, but nothing moves
        state = prw.world.state()
        assert state.phase.value == "WaitingPromotion" and state.pull_request is not None
        assert state.pull_request.paused
        assert "skipping canary run as object is suspended" in events(prw.world)
        prw.comment(pr, "/gitbot resume")
        prw.world.run_until({"Succeeded"})
        assert prw.pr_state(pr.branch) is PRState.MERGED
        assert head(prw.world).primary_image == f"{IMAGE}:6.0.1"


def test_a_person_closing_the_promotion_pr_rolls_back(tmp_path: Path) -> None:
    with pr_world(tmp_path) as prw:
        world = prw.world
        wait_for_promotion(prw)
        pr = prw.open_pr()
        prw.close(pr)
        world.run_until({"Failed"})
        subjects = plain(prw.mainline())
        assert subjects[-1].startswith("podinfo.test: rollback: revert 6 commits (pull request")
        assert not any("promote" in s for s in subjects)
        assert any(m.startswith(f"Rolling back podinfo.test: pull request #{pr.number} rejected")
                   for m in events(world))
        end = head(world)
        assert (end.traffic, end.canary_replicas, end.primary_image) == (
            Traffic(100, 0), 0, f"{IMAGE}:6.0.0")


def test_a_failing_analysis_closes_the_waiting_promotion_and_rolls_back(tmp_path: Path) -> None:
    with pr_world(tmp_path, options=CanaryOptions(threshold=2)) as prw:
        world = prw.world
        wait_for_promotion(prw)
        pr = prw.open_pr()
        images = world.cluster.scenario.images
        assert isinstance(images, dict)
        images["podinfo:6.0.1"] = Behaviour(error_rate=0.5)  # the canary starts failing
        world.run_until({"Failed"})
        assert prw.pr_state(pr.branch) is PRState.CLOSED
        comments = prw.driver.forge.comments(pr)
        assert any("gitbot rolls back `test/podinfo`: failed checks threshold reached 2"
                   in c.body for c in comments), comments
        subjects = plain(prw.mainline())
        assert subjects[-1].startswith("podinfo.test: rollback: revert 6 commits")
        assert not any("promote" in s for s in subjects)
        assert head(world).primary_image == f"{IMAGE}:6.0.0"


def test_a_new_revision_supersedes_the_waiting_promotion(tmp_path: Path) -> None:
    with pr_world(tmp_path) as prw:
        world = prw.world
        wait_for_promotion(prw)
        old = prw.open_pr()
        world.dev.release("6.0.5")
        world.run_until({"Progressing"})
        assert prw.pr_state(old.branch) is PRState.CLOSED
        comments = [c.body for c in prw.driver.forge.comments(old)]
        assert any(c.startswith("Superseded by #") and "restart analysis" in c
                   for c in comments), comments
        assert plain(prw.mainline())[-1] == "podinfo.test: restart analysis for new revision"
        world.run_until({"WaitingPromotion"})
        assert prw.open_pr().number > old.number


@pytest.mark.parametrize("point", ["after-commit", "after-open"])
def test_killed_between_pr_opened_and_merged_resumes_once(tmp_path: Path, point: str) -> None:
    """`gitbot reconcile --once` as a real process, killed once at `point` (branch pushed and
    recorded / PR opened, not merged yet); the restart adopts that PR: one PR per step, each
    change merged once."""
    with pr_world(tmp_path) as prw:
        world = prw.world
        initialize(world)
        world.dev.release("6.0.1")
        crashed = False
        deadline = time.monotonic() + 240
        while world.state().phase.value != "WaitingPromotion":
            assert time.monotonic() < deadline, events(world)
            armed = not crashed and world.state().canary_weight >= 20
            code = reconcile_process(world, point if armed else "")
            crashed = crashed or code == 86
            time.sleep(world.pace)
        assert crashed
        subjects = plain(prw.mainline()[1:])
        assert subjects == STEP_SUBJECTS
        records = git(world.dev.remote, "ls-tree", "-r", "--name-only", "gitbot/state",
                      "pull-requests/").splitlines()
        numbers = git(world.dev.remote, "show", "gitbot/state:pull-requests/last-number")
        branches = [r for r in records if r.endswith(".json")]
        assert len(branches) == int(numbers) == len(STEP_SUBJECTS) + 2  # + initialize + promote


def test_gitbot_reject_rolls_back_through_a_merged_revert_pr(tmp_path: Path) -> None:
    with pr_world(tmp_path) as prw:
        world = prw.world
        wait_for_promotion(prw)
        pr = prw.open_pr()
        ok, message = reject_promotion(world.app, KEY)
        assert ok, message
        assert f"closed pull request #{pr.number}" in message
        world.run_until({"Failed"})
        assert prw.pr_state(pr.branch) is PRState.CLOSED
        subjects = plain(prw.mainline())
        assert subjects[-1].startswith(
            f"podinfo.test: rollback: revert 6 commits (pull request #{pr.number} rejected")
        assert not any("promote" in s for s in subjects)
        assert head(world).primary_image == f"{IMAGE}:6.0.0"
        again, why = reject_promotion(world.app, KEY)
        assert (again, why) == (False, "nothing waits for a decision: test/podinfo is Failed")
