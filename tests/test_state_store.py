"""Rollout state on the state branch: exact JSON round trip, approvals, and no commit when
nothing changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.statestore import GitStateStore
from gitbot.core.state import Event, Phase, RepoChange, RolloutState, Traffic
from gitbot.sim.gitops import create_gitops_repo

STATE = RolloutState(
    phase=Phase.PROGRESSING,
    traffic=Traffic(70, 30, mirror=False, session_cookie="c=abcdefghij"),
    failed_checks=2,
    iterations=1,
    last_applied_spec="aaaa",
    last_promoted_spec="bbbb",
    rollout_id="aaaa-3",
    run=3,
    step=9,
    pending=RepoChange(action="advance", subject="advance canary weight 30",
                       traffic=Traffic(70, 30)),
    last_transition_time="2026-11-22T10:00:00Z",
    events=(Event("2026-11-22T10:00:00Z", "Normal", "Advance podinfo.test canary weight 30"),),
)


def _branch_commits(remote: Path, branch: str) -> int:
    out = subprocess.run(["git", "rev-list", "--count", branch], cwd=remote,
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_state_round_trips_through_the_state_branch(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "a") as first:
        first.sync()
        GitStateStore(first, "gitbot/state").save("test/podinfo", STATE, "advance")
        commits = _branch_commits(dev.remote, "gitbot/state")
        GitStateStore(first, "gitbot/state").save("test/podinfo", STATE, "again")
        assert _branch_commits(dev.remote, "gitbot/state") == commits
    # a second process (a restarted gitbot on another machine) reads exactly the same state
    with GitWorkspace(str(dev.remote), "main", tmp_path / "b") as second:
        second.sync()
        store = GitStateStore(second, "gitbot/state")
        assert store.load("test/podinfo") == STATE
        assert store.load("test/other") is None
        assert store.approval("test/podinfo") is None
        store.approve("test/podinfo", "aaaa-3", "dana", "2026-11-22T10:01:00Z")
        assert store.approval("test/podinfo") == {
            "rollout": "aaaa-3", "by": "dana", "time": "2026-11-22T10:01:00Z",
        }
    assert dev.log_subjects()[0] == "Add podinfo 6.0.0 with a Canary"  # main untouched
