"""Drift detection end to end on the fast path: real bare remotes, a person's clone pushing
(and force-pushing) commits, real `reconcile --once` passes, the recording chat inbox, and a
stand-in Prometheus (gitbot/sim/promstub.py) in place of the simulator.

One test per case of issue 8, item 4: a force push that removed gitbot's commits, weights set to
primary by hand, other weights (0/100 too), a canary scaled to 0 while it has traffic, an edited
primary template, a person's commit racing gitbot's step. Each asserts what the branch declares
afterwards, the events and the chat messages.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.specs import load_repository
from gitbot.cli import cli
from gitbot.core.state import Traffic
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.sim.inbox import Inbox
from gitbot.sim.promstub import PromStub

ROUTING = "apps/podinfo/podinfo-routing.yaml"
TARGET = "apps/podinfo/deployment.yaml"
PRIMARY = "apps/podinfo/podinfo-primary.yaml"


@dataclass
class Rollout:
    dev: Developer
    inbox: Inbox
    config: Path
    prom: PromStub

    def reconcile(self) -> str:
        result = CliRunner().invoke(cli, ["--config", str(self.config), "reconcile", "--once"])
        assert result.exit_code == 0, result.output
        return result.stdout

    def status(self) -> dict[str, Any]:
        result = CliRunner().invoke(
            cli, ["--config", str(self.config), "status", "--output", "json"]
        )
        assert result.exit_code == 0, result.output
        status: dict[str, Any] = json.loads(result.stdout)["canaries"][0]
        return status

    def events(self) -> list[str]:
        return [e["message"] for e in self.status()["events"]]

    def chat(self) -> list[str]:
        return [m["attachments"][0]["text"] for m in self.inbox.messages("/slack")]

    def head(self) -> tuple[Traffic | None, int | None]:
        self.dev.pull()
        canary = load_repository(self.dev.clone).canaries[0]
        editor = ManifestEditor(self.dev.clone)
        return editor.get_traffic(canary), editor.get_replicas("test", "podinfo")

    def head_sha(self) -> str:
        return git(self.dev.clone, "rev-parse", "origin/main")

    def advance_to(self, weight: int) -> None:
        """Initialize, release 6.0.1 and reconcile until the canary carries `weight` %."""
        self.reconcile()
        self.dev.release("6.0.1")
        for _ in range(10):
            self.reconcile()
            if self.status()["canaryWeight"] == weight:
                return
        raise AssertionError(self.events())

    def edit(self, rel: str, old: str, new: str, message: str) -> str:
        """The person edits one file (`old` must occur once), commits and pushes."""
        text = self.dev.read(rel)
        assert text.count(old) == 1, (old, text)
        return self.dev.commit_files({rel: text.replace(old, new)}, message)

    def set_weights(self, primary: int, canary: int, message: str) -> str:
        text = self.dev.read(ROUTING)
        weights = iter((primary, canary))
        edited = re.sub(r"weight: \d+", lambda _m: f"weight: {next(weights)}", text)
        return self.dev.commit_files({ROUTING: edited}, message)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def rollout(tmp_path: Path) -> Iterator[Rollout]:
    with Inbox() as inbox:
        dev = create_gitops_repo(tmp_path, options=CanaryOptions(alert_url=f"{inbox.url}/slack"))
        with PromStub(dev.remote) as prom:
            config = tmp_path / "config.yaml"
            config.write_text(
                f"git:\n  url: {dev.remote}\n  branch: main\n  workdir: {tmp_path / 'work'}\n"
                f"prometheus:\n  url: {prom.url}\n  timeout: 5\n",
                encoding="utf-8",
            )
            yield Rollout(dev, inbox, config, prom)


def analysis_queries(rollout: Rollout) -> int:
    """How many request-success-rate queries the canary asked (one per analysis tick)."""
    return rollout.prom.count("istio_requests_total")


def drift_chats(rollout: Rollout) -> list[str]:
    return [t for t in rollout.chat() if "a person changed what gitbot manages" in t]


def test_force_push_that_removed_gitbots_commits_never_routes_to_a_zero_replica_canary(
    rollout: Rollout,
) -> None:
    """Issue 8: a person resets main to the release commit (before gitbot's scale-up) and
    force-pushes; state says weight 20, the tree says replicas 0. gitbot used to commit 30, 40."""
    rollout.advance_to(20)
    release = git(rollout.dev.clone, "log", "--format=%H", "-1", "--grep=Release podinfo")
    git(rollout.dev.clone, "reset", "-q", "--hard", release)
    git(rollout.dev.clone, "push", "-q", "--force", "origin", "HEAD:main")
    for _ in range(3):
        rollout.reconcile()
    assert rollout.head_sha() == release  # gitbot committed nothing
    assert rollout.head() == (Traffic(100, 0), 0)
    status = rollout.status()
    assert (status["phase"], status["canaryWeight"]) == ("Failed", 0)
    short = release[:12]
    drifted = [e for e in rollout.events() if e.startswith("Rolling back podinfo.test manual")]
    assert drifted == [
        "Rolling back podinfo.test manual change: gitbot's commit for step 4 is no longer on "
        "the branch; traffic primary 100% canary 0% (gitbot declared primary 80% canary 20%); "
        f'the canary is scaled to 0 replicas; changed in {short} "Release podinfo 6.0.1" by '
        "Dana Developer"
    ]
    [chat] = drift_chats(rollout)
    assert f'Commit {short} "Release podinfo 6.0.1" by Dana Developer' in chat
    assert "gitbot treats this as a manual rollback" in chat


def test_weights_set_to_the_primary_by_hand_are_a_manual_rollback(rollout: Rollout) -> None:
    rollout.advance_to(20)
    sha = rollout.set_weights(100, 0, "Send everyone back to the primary")
    for _ in range(3):
        rollout.reconcile()
    assert rollout.head_sha() == sha  # not overwritten, nothing committed after it
    assert rollout.head() == (Traffic(100, 0), 2)
    assert rollout.status()["phase"] == "Failed"
    events = rollout.events()
    assert events[-1] == (
        "Rolling back podinfo.test manual change: traffic primary 100% canary 0% (gitbot "
        f'declared primary 80% canary 20%); changed in {sha[:12]} "Send everyone back to the '
        'primary" by Dana Developer'
    )
    assert not any("canary weight 30" in e for e in events)
    assert len(drift_chats(rollout)) == 1


@pytest.mark.parametrize(("primary", "canary"), [
    pytest.param(70, 30, id="70-30"),
    pytest.param(0, 100, id="0-100-canary-carries-all-traffic"),
])
def test_other_weights_halt_once_and_resume_when_restored(
    rollout: Rollout, primary: int, canary: int
) -> None:
    """Issue 8: weights edited by hand (0/100 included) went unnoticed until the next step
    overwrote them, and the analysis in between measured a canary carrying all traffic."""
    rollout.advance_to(20)
    sha = rollout.set_weights(primary, canary, f"Try {canary} percent")
    analysed = analysis_queries(rollout)
    for _ in range(3):
        rollout.reconcile()
    assert rollout.head_sha() == sha
    assert rollout.head()[0] == Traffic(primary, canary)
    assert analysis_queries(rollout) == analysed  # halted: nothing measured
    status = rollout.status()
    assert (status["phase"], status["canaryWeight"]) == ("Progressing", 20)
    halts = [e for e in rollout.events() if e.startswith("Halt podinfo.test advancement: ")]
    assert halts == [
        f"Halt podinfo.test advancement: traffic primary {primary}% canary {canary}% (gitbot "
        f'declared primary 80% canary 20%); changed in {sha[:12]} "Try {canary} percent" by '
        "Dana Developer; gitbot will not overwrite it"
    ]
    [chat] = drift_chats(rollout)
    assert f'Commit {sha[:12]} "Try {canary} percent" by Dana Developer' in chat
    assert "gitbot halted the rollout" in chat

    rollout.set_weights(80, 20, "Back to what gitbot set")
    rollout.reconcile()
    assert rollout.events()[-1] == (
        "Resuming podinfo.test advancement: the values gitbot manages match its state again")
    rollout.reconcile()
    assert analysis_queries(rollout) > analysed  # measuring again
    assert rollout.status()["canaryWeight"] == 30
    assert rollout.head()[0] == Traffic(70, 30)


def test_canary_scaled_to_zero_while_it_has_traffic_is_rolled_back(rollout: Rollout) -> None:
    rollout.advance_to(20)
    sha = rollout.edit(TARGET, "replicas: 2", "replicas: 0", "Scale the canary down")
    rollout.reconcile()
    assert rollout.head() == (Traffic(100, 0), 0)
    assert rollout.status()["phase"] == "Failed"
    subject = git(rollout.dev.clone, "log", "-1", "--format=%s", "origin/main")
    assert subject.startswith("podinfo.test: rollback: revert ")
    assert subject.endswith(f"(canary at 0 replicas carries traffic since {sha[:12]} by Dana "
                            "Developer)")
    events = rollout.events()
    assert (
        "Rolling back podinfo.test canary without replicas carries traffic: the canary is "
        f'scaled to 0 replicas; changed in {sha[:12]} "Scale the canary down" by Dana Developer'
    ) in events
    assert events[-1] == "Canary failed! Scaling down podinfo.test"
    [chat] = drift_chats(rollout)
    assert "gitbot rolls back now" in chat
    assert f'Commit {sha[:12]} "Scale the canary down" by Dana Developer' in chat


def test_edited_primary_template_halts_until_the_edit_is_reverted(rollout: Rollout) -> None:
    rollout.advance_to(20)
    sha = rollout.edit(PRIMARY, "- --level=info", "- --level=debug", "Debug logs on primary")
    rollout.reconcile()
    rollout.reconcile()
    halts = [e for e in rollout.events() if e.startswith("Halt podinfo.test")]
    assert halts == [
        "Halt podinfo.test advancement: the primary's pod template was edited; changed in "
        f'{sha[:12]} "Debug logs on primary" by Dana Developer; gitbot will not overwrite it'
    ]
    assert rollout.head_sha() == sha
    git(rollout.dev.clone, "revert", "--no-edit", sha)
    git(rollout.dev.clone, "push", "-q", "origin", "HEAD:main")
    rollout.reconcile()
    rollout.reconcile()
    assert rollout.status()["canaryWeight"] == 30
    assert len(drift_chats(rollout)) == 1


def test_a_persons_commit_racing_gitbots_step_is_kept_and_halts_the_run(rollout: Rollout) -> None:
    """Issue 8: a person's conflicting commit was overridden one pass later without a word.
    Here the person pushes other weights while gitbot's pass is measuring (after its sync), so
    gitbot's weight-30 commit loses the push race and conflicts with the person's."""
    rollout.advance_to(20)
    pushed: list[str] = []
    measure = rollout.prom.answer

    def racing(query: str) -> Any:
        if not pushed and "istio_requests_total" in query:
            pushed.append(rollout.set_weights(90, 10, "Less traffic on the canary"))
        return measure(query)

    rollout.prom.answer = racing  # type: ignore[method-assign]
    out = rollout.reconcile()
    [sha] = pushed
    assert out.startswith("test/podinfo: Progressing — error: pushing to main conflicts with "
                          "commits already there: files apps/podinfo/podinfo-routing.yaml; ")
    assert f"theirs: {sha[:7]} Less traffic on the canary" in out
    for _ in range(2):
        rollout.reconcile()
    assert rollout.head_sha() == sha  # the person's commit is the head: nothing overwrote it
    assert rollout.head() == (Traffic(90, 10), 2)
    status = rollout.status()
    assert (status["phase"], status["canaryWeight"]) == ("Progressing", 20)
    assert rollout.events()[-1] == (
        "Halt podinfo.test advancement: traffic primary 90% canary 10% (gitbot declared primary "
        f'80% canary 20%); changed in {sha[:12]} "Less traffic on the canary" by Dana Developer; '
        "gitbot will not overwrite it")
    [chat] = drift_chats(rollout)
    assert f'Commit {sha[:12]} "Less traffic on the canary" by Dana Developer' in chat
