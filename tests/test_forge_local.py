"""The local forge: PR records on the state branch, merges with real git (conflicts aborted,
a moved head refused), decisions by `gitbot approve` / `gitbot reject`, and a restarted gitbot
that reads the same records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from forgerig import make_rig
from gitfixtures import Clone, git, remote_file

from gitbot.adapters.forges import PRState
from gitbot.adapters.forges.local import LocalForge
from gitbot.adapters.forges.local_merge import ScratchMerger
from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.git_credentials import workspace_env
from gitbot.errors import GitbotError
from gitbot.pullrequests import Outcome


def test_records_live_on_the_state_branch_and_survive_a_restart(tmp_path: Path) -> None:
    with make_rig("local", tmp_path) as rig:
        sha = rig.commit(1, "advance")
        first = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "body")
        sha2 = rig.commit(2, "promote")
        second = rig.driver.propose("test/podinfo", 2, "promote", sha2, "promote 2", "b")
        assert (first.pr.number, second.pr.number) == (1, 2)
        record = json.loads(remote_file(rig.bare, "pull-requests/gitbot/test/podinfo/"
                                        "2-promote.json", branch="gitbot/state"))
        assert record["labels"] == ["gitbot", "promote", "canary:test/podinfo"]
        assert record["statuses"][sha2] == {"gitbot/analysis": "success"}
        env = workspace_env(str(rig.bare), "gitbot", "gitbot@localhost", None, None)
        with GitWorkspace(str(rig.bare), "main", tmp_path / "ws2") as ws2:
            ws2.sync()
            restarted = LocalForge(ws2, "gitbot/state", ScratchMerger(
                str(rig.bare), tmp_path / "scratch2", env))
            found = restarted.find(second.pr.branch)
            assert found is not None and found.number == 2 and found.state is PRState.OPEN
            assert found.head_sha == sha2


def test_a_conflict_is_reported_and_leaves_main_alone(tmp_path: Path) -> None:
    with make_rig("local", tmp_path) as rig:
        sha = rig.commit(3, "advance")
        pr = rig.driver.propose("test/podinfo", 3, "advance", sha, "advance 3", "b").pr
        before = git(rig.bare, "rev-parse", "main")
        Clone(rig.bare, tmp_path / "person").change("apps/podinfo/vs.yaml", "person\n")
        progress = rig.driver.advance(pr, "advance", fresh=True)
        assert progress.outcome is Outcome.WAITING
        assert "conflicts with the base branch: apps/podinfo/vs.yaml" in progress.reason
        assert git(rig.bare, "log", "-1", "--format=%s", "main") == "other change"
        assert git(rig.bare, "rev-parse", "main^") == before


def test_a_moved_head_is_not_merged(tmp_path: Path) -> None:
    with make_rig("local", tmp_path) as rig:
        sha = rig.commit(3, "advance")
        pr = rig.driver.propose("test/podinfo", 3, "advance", sha, "advance 3", "b").pr
        git(rig.bare, "update-ref", f"refs/heads/{pr.branch}", git(rig.bare, "rev-parse", "main"))
        result = rig.forge.merge(pr, "merge", "t", "m")
        assert result.stale and not result.merged
        assert rig.main_log() == ["seed"]


def test_gitbot_reject_closes_the_pull_request_as_that_person(tmp_path: Path) -> None:
    with make_rig("local", tmp_path) as rig:
        assert isinstance(rig.forge, LocalForge)
        sha = rig.commit(7, "promote")
        pr = rig.driver.propose("test/podinfo", 7, "promote", sha, "promote 7", "b").pr
        with pytest.raises(GitbotError, match="own pull request"):
            rig.forge.add_review(pr, "gitbot", "APPROVED")
        rig.forge.reject(pr, "dana", "latency too high for the holidays")
        progress = rig.driver.advance(pr, "promote")
        assert progress.outcome is Outcome.REJECTED
        assert rig.forge.comments(pr)[-1].body == "latency too high for the holidays"
