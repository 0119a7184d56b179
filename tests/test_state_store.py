"""Rollout state on the state branch: exact JSON round trip, approvals, and no commit when
nothing changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.statestore import GitStateStore
from gitbot.core.state import Event, Phase, RepoChange, RolloutState, Traffic
from gitbot.core.state_json import state_from_json, state_to_json
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


VALID = json.dumps(state_to_json(STATE))


def _without(key: str) -> str:
    data = state_to_json(STATE)
    del data[key]
    return json.dumps(data)


def _tick(**changes: object) -> dict[str, object]:
    """A stored analysis tick (as PR texts read it back) with `changes`."""
    return {"time": "2026-11-22T10:00:00Z", "weight": 20, "metrics": [], "hooks": [], **changes}


def _with(**changes: object) -> str:
    return json.dumps({**state_to_json(STATE), **changes})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("{not json", "line 1 column 2: not valid JSON", id="not-json"),
        pytest.param("", "line 1 column 1: not valid JSON", id="empty"),
        pytest.param(VALID[: len(VALID) // 2], "not valid JSON", id="truncated"),
        pytest.param("[1, 2]", "state: expected an object, got list", id="a-list"),
        pytest.param("[" * 5000 + "]" * 5000, "nested too deeply", id="deeply-nested"),
        pytest.param(_with(phase="Bogus"), "phase: 'Bogus' is not a valid Phase",
                     id="unknown-phase"),
        pytest.param(_with(phase=3), "phase: expected a string, got 3", id="phase-not-text"),
        pytest.param(_without("phase"), "phase: missing", id="phase-missing"),
        pytest.param(_without("step"), "step: missing", id="step-missing"),
        pytest.param(_without("traffic"), "traffic: missing", id="traffic-missing"),
        pytest.param(_with(step="9"), "step: expected a whole number >= 0, got '9'",
                     id="step-as-text"),
        pytest.param(_with(failed_checks=-1), "failed_checks: expected a whole number >= 0",
                     id="negative-count"),
        pytest.param(_with(iterations=True), "iterations: expected a whole number >= 0",
                     id="bool-as-count"),
        pytest.param(_with(traffic=[80, 20]), "traffic: expected an object, got list",
                     id="traffic-a-list"),
        pytest.param(_with(traffic={"primary_weight": 80, "canary_weight": 220}),
                     "traffic: weights must be 0-100", id="weight-over-100"),
        pytest.param(_with(traffic={"canary_weight": 20, "bogus": 1}),
                     "traffic: unknown field 'bogus'", id="traffic-unknown-field"),
        pytest.param(_with(traffic={"canary_weight": 20, "mirror": "yes"}),
                     "traffic.mirror: expected true or false, got 'yes'", id="mirror-not-bool"),
        pytest.param(_with(pending={"subject": "x"}), "pending.action: missing",
                     id="pending-without-action"),
        pytest.param(_with(pending={"action": "advance", "revert": 1}),
                     "pending.revert: expected true or false, got 1", id="pending-bad-flag"),
        pytest.param(_with(events={"a": 1}), "events: expected a list, got dict",
                     id="events-not-a-list"),
        pytest.param(_with(events=[{"time": 1}]), "events[0].time: expected a string",
                     id="event-bad-field"),
        pytest.param(_with(events=["x"]), "events[0]: expected an object, got str",
                     id="event-not-an-object"),
        pytest.param(_with(ticks=[_tick(metrics=[{"name": "m", "value": "fast", "passed": True,
                                                  "message": ""}])]),
                     "ticks[0].metrics[0].value: expected a number or null, got 'fast'",
                     id="tick-metric-value-text"),
        pytest.param(_with(ticks=[_tick(weight=250)]), "ticks[0].weight: must be 0-100, got 250",
                     id="tick-weight-over-100"),
        pytest.param(_with(ticks=[_tick(hooks=[{"name": "h", "type": "pre-rollout",
                                                "passed": "yes"}])]),
                     "ticks[0].hooks[0].passed: expected true or false, got 'yes'",
                     id="tick-hook-passed-text"),
        pytest.param(_with(ticks=[_tick(hooks=[{"name": "h", "type": "nope"}])]),
                     "ticks: 'nope' is not a valid WebhookType", id="tick-hook-type-unknown"),
        pytest.param(_with(ticks=[_tick(metrics={"m": 1})]),
                     "ticks[0].metrics: expected a list, got {'m': 1}", id="tick-metrics-object"),
        pytest.param(_with(ticks=[_tick(extra=1)]), "ticks[0]: unknown field 'extra'",
                     id="tick-unknown-field"),
    ],
)
def test_unreadable_state_is_a_problem_never_an_exception(
    tmp_path: Path, content: str, problem: str
) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "a") as ws:
        ws.sync()
        ws.write_branch_file("gitbot/state", "canaries/test/podinfo.json", content, "hand edit")
        store = GitStateStore(ws, "gitbot/state")
        stored = store.read("test/podinfo")
        assert stored.state is None
        assert stored.problem.startswith("gitbot/state:canaries/test/podinfo.json: ")
        assert problem in stored.problem
        assert store.load("test/podinfo") is None  # status and approve see "no state"


def test_old_state_without_optional_fields_still_reads() -> None:
    minimal = {"phase": "Progressing", "traffic": {"primary_weight": 80, "canary_weight": 20},
               "step": 4}
    state = state_from_json(minimal)
    assert state == RolloutState(phase=Phase.PROGRESSING, traffic=Traffic(80, 20), step=4)


@pytest.mark.parametrize(
    "content",
    [pytest.param("{oops", id="not-json"), pytest.param('["a"]', id="a-list"),
     pytest.param('{"rollout": 3}', id="not-text")],
)
def test_unreadable_approval_counts_as_none(tmp_path: Path, content: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    dev = create_gitops_repo(tmp_path)
    with GitWorkspace(str(dev.remote), "main", tmp_path / "a") as ws:
        ws.sync()
        ws.write_branch_file("gitbot/state", "approvals/test/podinfo.json", content, "edit")
        assert GitStateStore(ws, "gitbot/state").approval("test/podinfo") is None
    assert "approvals/test/podinfo.json is not a valid approval record" in caplog.text
