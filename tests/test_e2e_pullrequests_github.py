"""End to end in pull-request mode against the GitHub API test server (tests/githubapi.py, real
HTTP, a real bare repository behind it) through PyGithub: auto-merged steps, the promotion held
in WaitingPromotion until a `/gitbot promote` comment or an approving review by a person (never
gitbot's own), a failing version and a `/gitbot abort` rolling back through a merged revert PR,
and a red required check holding a step until it turns green."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e_helpers import PROMOTION_SUBJECTS, STEP_SUBJECTS, head, initialize, reconcile_process
from prfast import BOT
from prworld import PRWorld, plain, pr_world, wait_for_promotion

from gitbot.adapters.forges import PRState
from gitbot.core.state import Traffic
from gitbot.sim.gitops import IMAGE

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]


def _bot_reviews(prw: PRWorld) -> int:
    assert prw.api is not None
    return sum(1 for c in prw.api.requests
               if c.method == "POST" and c.path.endswith("/reviews") and c.user == BOT)


def test_slash_promote_by_a_writer_releases_the_promotion(tmp_path: Path) -> None:
    with pr_world(tmp_path, "github") as prw:
        world = prw.world
        wait_for_promotion(prw)
        pr = prw.open_pr()
        assert pr.url.endswith(f"/pull/{pr.number}")
        assert world.status()["pullRequest"]["url"] == pr.url
        assert prw.api is not None
        assert prw.api.model.labels[pr.number] == ["gitbot", "promote", "canary:test/podinfo"]
        prw.comment(pr, "/gitbot promote", user="eve")  # read access only: ignored
        world.reconcile()
        assert world.state().phase.value == "WaitingPromotion"
        prw.comment(pr, "/gitbot promote", user="dana")
        world.run_until({"Succeeded"})
        assert plain(prw.mainline()[1:]) == STEP_SUBJECTS + PROMOTION_SUBJECTS
        assert prw.pr_state(pr.branch) is PRState.MERGED
        assert head(world).primary_image == f"{IMAGE}:6.0.1"
        assert _bot_reviews(prw) == 0  # gitbot never reviews its own pull requests


def test_an_approving_review_releases_the_promotion(tmp_path: Path) -> None:
    with pr_world(tmp_path, "github", method="squash") as prw:
        wait_for_promotion(prw)
        pr = prw.open_pr()
        prw.approve(pr, user="dana")
        prw.world.run_until({"Succeeded"})
        assert prw.pr_state(pr.branch) is PRState.MERGED
        assert "Gitbot-Action: promote" in prw.body("main~2")  # squashed, trailers kept
        assert head(prw.world).primary_image == f"{IMAGE}:6.0.1"
        assert _bot_reviews(prw) == 0


def test_a_failing_version_rolls_back_through_a_merged_revert_pr(tmp_path: Path) -> None:
    with pr_world(tmp_path, "github") as prw:
        world = prw.world
        initialize(world)
        world.dev.release("6.0.2")
        world.run_until({"Failed"})
        subjects = plain(prw.mainline())
        run = subjects[1:-1]  # scale-up and the weight steps before the fifth failed check
        assert len(run) >= 2 and run[0] == "podinfo.test: scale up canary", subjects
        assert subjects[-1].startswith(f"podinfo.test: rollback: revert {len(run)} commits (failed")
        assert not any("promote" in s for s in subjects)
        end = head(world)
        assert (end.traffic, end.primary_image) == (Traffic(100, 0), f"{IMAGE}:6.0.0")


def test_slash_abort_rolls_back_and_closes_the_promotion(tmp_path: Path) -> None:
    with pr_world(tmp_path, "github") as prw:
        world = prw.world
        wait_for_promotion(prw)
        pr = prw.open_pr()
        prw.comment(pr, "/gitbot abort", user="dana")
        world.run_until({"Failed"})
        assert prw.pr_state(pr.branch) is PRState.CLOSED
        subjects = plain(prw.mainline())
        assert subjects[-1].startswith("podinfo.test: rollback: revert 6 commits (pull request "
                                       f"#{pr.number} rejected: /gitbot abort by dana)")
        assert not any("promote" in s for s in subjects)
        assert head(world).primary_image == f"{IMAGE}:6.0.0"


def test_a_red_required_check_holds_the_step_until_green(tmp_path: Path) -> None:
    with pr_world(tmp_path, "github") as prw:
        world = prw.world
        initialize(world)
        assert prw.api is not None
        prw.api.model.required_contexts = ["ci"]
        world.dev.release("6.0.1")
        deadline = time.monotonic() + 120  # until Flux applied the initialization and the
        while world.state().pending is None:  # release is seen: the scale-up PR is proposed
            assert time.monotonic() < deadline, world.state().events[-3:]
            world.reconcile()
            time.sleep(world.pace)
        state = world.state()
        assert state.pending is not None and state.pending.action == "scale-up"
        pr = prw.open_pr()
        prw.red_check(pr)
        world.reconcile()
        assert world.state().pending is not None  # the step waits
        assert not any("scale up" in s for s in prw.mainline())
        prw.green_check(pr)
        # Until the scale-up PR is merged: the pass that sees it applied may already propose
        # the weight-10 PR, which stays open (its own `ci` check is missing), so the phase
        # alone is no signal under load.
        deadline = time.monotonic() + 240
        while prw.pr_state(pr.branch) is not PRState.MERGED:
            assert time.monotonic() < deadline, world.state().events[-3:]
            world.reconcile()
            time.sleep(world.pace)
        assert plain(prw.mainline())[-1] == "podinfo.test: scale up canary"
        assert world.state().phase.value == "Progressing"


def test_killed_after_the_pr_opened_resumes_without_a_second_pr(tmp_path: Path) -> None:
    """`gitbot reconcile --once` as a real process killed once right after opening a PR (not
    merged yet); the restart adopts it by its branch: one PR per branch, each merged once."""
    with pr_world(tmp_path, "github") as prw:
        world = prw.world
        initialize(world)
        world.dev.release("6.0.1")
        crashed = False
        deadline = time.monotonic() + 240
        while world.state().phase.value != "WaitingPromotion":
            assert time.monotonic() < deadline
            armed = not crashed and world.state().canary_weight >= 10
            code = reconcile_process(world, "after-open" if armed else "")
            crashed = crashed or code == 86
            time.sleep(world.pace)
        assert crashed
        assert plain(prw.mainline()[1:]) == STEP_SUBJECTS
        assert prw.api is not None
        branches = [p["head"] for p in prw.api.model.pulls.values()]
        assert len(branches) == len(set(branches)) == len(STEP_SUBJECTS) + 2
        merges = [c.path for c in prw.api.requests
                  if c.method == "PUT" and c.path.endswith("/merge") and c.status == 200]
        assert len(merges) == len(set(merges)) == len(STEP_SUBJECTS) + 1  # the promotion waits
