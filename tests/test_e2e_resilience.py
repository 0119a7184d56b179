"""End to end: the things that go wrong around a rollout — a slow Flux, gitbot killed between
any two steps, a person pushing during a rollout, a new revision mid-run, webhook gates."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from e2e_helpers import (
    PROMOTION_SUBJECTS,
    events,
    gitbot,
    head,
    initialize,
    reconcile_process,
    waiting_at_the_gate,
)

from gitbot.core.state import Traffic
from gitbot.sim.gitops import IMAGE, CanaryOptions
from gitbot.sim.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]


def test_slow_flux_holds_analysis_until_applied(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Progressing"})
        world.cluster.pause_flux()  # from here on the cluster runs what it has applied
        frozen = world.cluster.applied_revision
        while _remote_head(world) == frozen:  # Flux applied gitbot's last commit in time:
            world.reconcile()  # gitbot takes one more step, which is never applied
            time.sleep(world.pace)
        before = world.gitbot_subjects()
        for _ in range(4):
            world.reconcile()
            time.sleep(1)
        # not applied: no tick counted, no commit, no failed check
        assert world.gitbot_subjects() == before
        assert world.state().failed_checks == 0
        world.cluster.resume_flux()
        world.run_until({"Succeeded"})
        assert head(world).primary_image == f"{IMAGE}:6.0.1"


def _remote_head(world: World) -> str:
    return subprocess.run(["git", "--git-dir", str(world.dev.remote), "rev-parse", "main"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_unrelated_commit_during_rollout_is_kept(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Progressing"})
        world.reconcile()
        world.dev.commit_files({"docs/runbook.md": "# on-call\n"}, "Add the runbook")
        world.run_until({"Succeeded"})
        world.dev.pull()
        assert (world.dev.clone / "docs/runbook.md").read_text() == "# on-call\n"
        assert head(world).primary_image == f"{IMAGE}:6.0.1"


def test_new_revision_mid_run_restarts_analysis(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Progressing"})
        while world.state().canary_weight < 20:
            world.reconcile()
            time.sleep(world.pace)
        world.dev.release("6.0.1-hotfix")
        world.run_until({"Succeeded"})
        assert "New revision detected! Restarting analysis for podinfo.test" in events(world)
        assert head(world).primary_image == f"{IMAGE}:6.0.1-hotfix"


def test_confirm_gates_hold_until_approved(tmp_path: Path) -> None:
    options = CanaryOptions(
        webhooks=[{"name": "promotion-gate", "type": "confirm-promotion", "url": "INBOX/gate"}]
    )
    with World(tmp_path, options=options) as world:
        world.inbox.status = 403
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"WaitingPromotion"})
        assert any("waiting for promotion approval promotion-gate" in m for m in events(world))
        assert head(world).primary_image == f"{IMAGE}:6.0.0"
        world.inbox.status = 200
        world.run_until({"Succeeded"})
        assert head(world).primary_image == f"{IMAGE}:6.0.1"


def test_gitbot_approve_releases_a_waiting_promotion(tmp_path: Path) -> None:
    with waiting_at_the_gate(tmp_path) as world:
        done = gitbot(world, "approve", "test/podinfo")
        assert done.returncode == 0, done.stderr
        assert "approved the promotion of test/podinfo" in done.stdout
        world.run_until({"Succeeded"})
        assert head(world).primary_image == f"{IMAGE}:6.0.1"
        again = gitbot(world, "approve", "test/podinfo")
        assert again.returncode == 2
        assert "nothing waits for approval: test/podinfo is Succeeded" in again.stderr


CRASH_POINTS = ["after-state-write", "after-edit", "after-commit", "after-push"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_between_steps_resumes_without_duplicates(tmp_path: Path, point: str) -> None:
    """Run `gitbot reconcile --once` as a real process; once the canary carries 20 % of the
    traffic, kill it (exit 86) the first time it reaches `point`, then run on to the end."""
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.1")
        crashed = False
        deadline = time.monotonic() + 240
        while world.state().phase.value != "Succeeded" or world.state().pending is not None:
            assert time.monotonic() < deadline, events(world)
            armed = not crashed and world.state().canary_weight >= 20
            code = reconcile_process(world, point if armed else "")
            if code == 86:
                crashed = True
            else:
                assert code == 0
            time.sleep(world.pace)
        assert crashed
        subjects = world.gitbot_subjects()
        duplicates = [s for s, n in Counter(subjects).items() if n > 1]
        assert not duplicates
        assert subjects[-3:] == PROMOTION_SUBJECTS
        assert [s for s in subjects if "advance canary weight" in s] == [
            f"podinfo.test: advance canary weight {w}" for w in (10, 20, 30, 40, 50)
        ]
        end = head(world)
        assert end.traffic == Traffic(100, 0)
        assert end.primary_image == f"{IMAGE}:6.0.1"


def _rebuilt(world: World) -> list[str]:
    return [m for m in events(world) if m.startswith("State of podinfo.test rebuilt from Git")]


def test_deleted_state_branch_mid_run_resumes_the_run(tmp_path: Path) -> None:
    """The state branch is deleted while the canary carries 20 %: the run resumes at 20 % from
    the commit trailers and is promoted after its analysis, never taken as promoted at once."""
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Progressing"})
        while world.state().canary_weight < 20:
            world.reconcile()
            time.sleep(world.pace)
        subprocess.run(["git", "branch", "-D", "gitbot/state"], cwd=world.dev.remote, check=True)
        world.reconcile()  # rebuilt at 20 %, then the same tick's analysis may advance it
        resumed = world.state()
        assert resumed.phase.value == "Progressing" and resumed.canary_weight in (20, 30)
        [rebuilt] = _rebuilt(world)
        assert rebuilt.endswith("(advance): resuming Progressing at canary weight 20")
        world.run_until({"Succeeded"})
        assert len(_rebuilt(world)) == 1
        advances = [s for s in world.gitbot_subjects() if "advance canary weight" in s]
        assert advances == [f"podinfo.test: advance canary weight {w}" for w in (10, 20, 30, 40,
                                                                                  50)]
        assert head(world).primary_image == f"{IMAGE}:6.0.1"
        assert head(world).traffic == Traffic(100, 0)


def test_corrupted_state_while_promoting_finishes_the_promotion(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Promoting", "Finalising", "Succeeded"})
        assert world.state().phase.value == "Promoting"
        world.app.workspace.write_branch_file(
            "gitbot/state", "canaries/test/podinfo.json", '{"phase": "Bogus"}', "hand edit")
        world.run_until({"Succeeded"})
        [rebuilt] = _rebuilt(world)
        assert "phase: 'Bogus' is not a valid Phase" in rebuilt
        assert "resuming Promoting" in rebuilt
        assert world.gitbot_subjects()[-2:] == [
            "podinfo.test: route all traffic to primary", "podinfo.test: scale down canary"]
        assert head(world).primary_image == f"{IMAGE}:6.0.1"
