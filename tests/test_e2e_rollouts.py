"""End to end: whole rollouts against a bare repository, the simulated cluster and a real
Prometheus, one `reconcile --once` pass at a time. Each test asserts on the commits, the
manifests at the head, the status and the events."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from e2e_helpers import PROMOTION_SUBJECTS, STEP_SUBJECTS, events, head, initialize

from gitbot.core.state import Traffic
from gitbot.sim.gitops import IMAGE, CanaryOptions
from gitbot.sim.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

SUCCESS_SUBJECTS = STEP_SUBJECTS + PROMOTION_SUBJECTS


SEED_WEBHOOKS = [  # the podinfo seed's hooks, pointed at the local inbox
    {"name": "acceptance-test", "type": "pre-rollout", "url": "INBOX/acceptance",
     "timeout": "30s"},
    {"name": "load-test", "url": "INBOX/load", "timeout": "5s"},
]


def test_canary_success_promotes_step_by_step(tmp_path: Path) -> None:
    options = CanaryOptions(alert_url="inbox", webhooks=[dict(h) for h in SEED_WEBHOOKS])
    with World(tmp_path, options=options) as world:
        initialize(world)
        boot = head(world)
        assert boot.traffic == Traffic(100, 0)
        assert boot.canary_replicas == 0
        assert boot.primary_image == f"{IMAGE}:6.0.0"

        world.dev.release("6.0.1")
        world.run_until({"Succeeded"})

        subjects = world.gitbot_subjects()
        assert subjects[0].startswith("podinfo.test: initialize")
        assert subjects[1:] == SUCCESS_SUBJECTS
        end = head(world)
        assert end.primary_image == f"{IMAGE}:6.0.1"
        assert end.traffic == Traffic(100, 0)
        assert end.canary_replicas == 0
        status = world.status()
        assert (status["phase"], status["canaryWeight"], status["failedChecks"]) == (
            "Succeeded", 0, 0,
        )
        messages = events(world)
        for weight in (10, 20, 30, 40, 50):
            assert f"Advance podinfo.test canary weight {weight}" in messages
        assert "Promotion completed! Scaling down podinfo.test" in messages
        assert len(world.inbox.messages("/slack")) >= len(SUCCESS_SUBJECTS)
        acceptance = world.inbox.messages("/acceptance")
        assert len(acceptance) == 1
        assert {k: acceptance[0][k] for k in ("name", "namespace", "phase")} == {
            "name": "podinfo", "namespace": "test", "phase": "Progressing",
        }
        assert acceptance[0]["checksum"]
        assert len(world.inbox.messages("/load")) >= 5  # every analysis tick


def test_rollback_on_errors_reverts_commits(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        initialize(world)
        world.dev.release("6.0.2")
        world.run_until({"Failed"})

        messages = events(world)
        halts = [m for m in messages if m.startswith("Halt podinfo.test advancement success rate")]
        assert halts and all(m.endswith("% < 99%") for m in halts)
        assert "Rolling back podinfo.test failed checks threshold reached 5" in messages
        assert "Canary failed! Scaling down podinfo.test" in messages
        # The fifth failed check usually comes at weight 10; a run can get one step further
        # when the first check after a step reads a window in which the new pods' error series
        # has a single sample (rate() needs two: passes here are 3 s apart, the window 6 s).
        subjects = world.gitbot_subjects()
        run = subjects[subjects.index("podinfo.test: scale up canary", -8):-1]
        assert 2 <= len(run) <= 3 and run[1] == "podinfo.test: advance canary weight 10", subjects
        assert subjects[-1] == (
            f"podinfo.test: rollback: revert {len(run)} commits (failed checks threshold reached 5)"
        )
        body = subprocess.run(["git", "log", "-1", "--format=%B"], cwd=world.dev.clone,
                              capture_output=True, text=True, check=True).stdout
        reverted = body.split("Reverts:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert [line.split(" ", 2)[2] for line in reverted] == run[::-1]
        assert "- request-success-rate: " in body and "(min 99%): failed" in body
        end = head(world)
        assert end.traffic == Traffic(100, 0)
        assert end.canary_replicas == 0
        assert end.primary_image == f"{IMAGE}:6.0.0"
        assert world.status()["phase"] == "Failed"


def test_rollback_on_latency(tmp_path: Path) -> None:
    with World(tmp_path, options=CanaryOptions(threshold=2)) as world:
        initialize(world)
        world.dev.release("6.0.3")
        world.run_until({"Failed"})
        messages = events(world)
        assert any(
            m.startswith("Halt podinfo.test advancement request duration") for m in messages
        )
        assert "Rolling back podinfo.test failed checks threshold reached 2" in messages
        assert head(world).primary_image == f"{IMAGE}:6.0.0"


def test_canary_never_ready_rolls_back_after_the_progress_deadline(tmp_path: Path) -> None:
    with World(tmp_path, options=CanaryOptions(progress_deadline=10)) as world:
        initialize(world)
        world.dev.release("6.0.4")
        world.run_until({"Failed"})
        messages = events(world)
        assert any(
            m.startswith("Rolling back podinfo.test progress deadline exceeded") for m in messages
        ), messages
        assert any("not ready" in m for m in messages), messages
        end = head(world)
        assert (end.traffic, end.canary_replicas) == (Traffic(100, 0), 0)
        assert end.primary_image == f"{IMAGE}:6.0.0"
        assert world.state().canary_weight == 0


def test_blue_green_switches_after_iterations(tmp_path: Path) -> None:
    options = CanaryOptions(iterations=3)
    with World(tmp_path, options=options, loadtest_rate=20.0) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Succeeded"})
        messages = events(world)
        assert "Advance podinfo.test canary iteration 3/3" in messages
        assert "Routing all traffic to canary" in messages
        subjects = world.gitbot_subjects()
        assert not any("advance canary weight" in s for s in subjects)
        assert "podinfo.test: route all traffic to canary" in subjects
        assert head(world).primary_image == f"{IMAGE}:6.0.1"


AB_MATCH = """\
      - headers:
          x-canary:
            exact: "insider"
      - headers:
          cookie:
            regex: "^(.*?;)?(canary=always)(;.*)?$"
"""


def test_ab_testing_routes_matched_requests(tmp_path: Path) -> None:
    options = CanaryOptions(iterations=3, match=AB_MATCH)
    with World(tmp_path, options=options) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Progressing"})
        world.run_until({"Succeeded"})
        subjects = world.gitbot_subjects()
        assert "podinfo.test: route matched requests to canary" in subjects
        assert "Advance podinfo.test canary iteration 3/3" in events(world)
        end = head(world)
        assert end.primary_image == f"{IMAGE}:6.0.1"
        assert len(end.vs["spec"]["http"]) == 2  # the match route and the fallback


def test_mirroring_runs_one_mirrored_step(tmp_path: Path) -> None:
    with World(tmp_path, options=CanaryOptions(mirror=True)) as world:
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"Succeeded"})
        subjects = world.gitbot_subjects()
        mirror = subjects.index("podinfo.test: mirror traffic to canary")
        assert subjects[mirror + 1] == "podinfo.test: advance canary weight 10"


def test_session_affinity_sets_cookie_routes(tmp_path: Path) -> None:
    with World(tmp_path, options=CanaryOptions(session_cookie="canary-session")) as world:
        initialize(world)
        world.dev.release("6.0.1")
        reports = world.run_until({"Progressing"})
        assert reports
        while world.state().canary_weight == 0:
            world.reconcile()
        http = head(world).vs["spec"]["http"]
        cookie_routes = [r for r in http if "match" in r and "Cookie" in str(r["match"])]
        assert cookie_routes, http
        assert world.state().traffic.session_cookie.startswith("canary-session=")
        world.run_until({"Succeeded"})
