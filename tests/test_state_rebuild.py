"""A lost or corrupted state branch, at every phase of a rollout: real bare remotes, gitbot's
real commits, then a real `reconcile --once` (the CLI, in process).

The rollout is driven to each phase with the reconciler's own act/record code (`Rig.tick`, the
decisions coming from the pure core as in tests/test_decide_flow.py), so the branch holds exactly
what gitbot writes. Then the state branch is deleted or the canary's file corrupted, and one pass
must rebuild the state from the trailers and the manifests: a run in progress resumes (or is
rolled back when the manifests contradict it), never silently counts as promoted; a second
canary keeps moving in the same pass. Prometheus is a closed port: no phase here needs it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from cliconfig import write_config
from test_decide_flow import Driver

from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.specs import load_repository
from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.core.plan import is_new_revision
from gitbot.core.spec import Canary
from gitbot.core.state import Phase, RolloutState, Traffic
from gitbot.sim.gitops import Developer, create_gitops_repo
from gitbot.wiring import App, build_app

KEY = "test/podinfo"
STATE_FILE = "canaries/test/podinfo.json"
REBUILT = "State of podinfo.test rebuilt from Git history ("


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def backend_files(dev: Developer) -> dict[str, str]:
    """A second app with its own Canary: podinfo's files renamed."""
    files = {}
    for name in ("kustomization.yaml", "deployment.yaml", "canary.yaml"):
        text = dev.read(f"apps/podinfo/{name}")
        text = text.replace("podinfo", "backend").replace("app.example.com", "api.example.com")
        files[f"apps/backend/{name}"] = text
    return files


@dataclass
class Rig:
    """A GitOps remote, gitbot's config and app, and a driver deciding podinfo's ticks."""

    dev: Developer
    config: Path
    app: App
    canary: Canary
    driver: Driver

    @classmethod
    def start(cls, tmp_path: Path, success_rate: float = 99.9) -> Rig:
        dev = create_gitops_repo(tmp_path)
        dev.commit_files(backend_files(dev), "Add backend with a Canary")
        config = write_config(tmp_path, str(dev.remote))
        app = build_app(load_settings(config))
        app.workspace.sync()
        canary = next(c for c in load_repository(app.workspace.root).canaries if c.key == KEY)
        return cls(dev, config, app, canary, Driver(canary, success_rate=success_rate))

    @property
    def state(self) -> RolloutState:
        return self.app.store.load(KEY) or RolloutState()

    def revision(self) -> str:
        return ManifestEditor(self.app.workspace.root).target_revision(self.canary)

    def tick(self) -> None:
        """One decision of the core, carried out by the reconciler's act/record code."""
        self.app.workspace.sync()
        before = self.driver.state
        decision = self.driver.tick(self.revision())
        self.app.reconciler._record_and_act(self.canary, before, decision)

    def until(self, done: Callable[[RolloutState], bool]) -> None:
        for _ in range(30):
            if done(self.driver.state):
                return
            self.tick()
        raise AssertionError(f"stuck at {self.driver.state.phase}")

    def to_phase(self, phase: str) -> None:
        """Drive podinfo to `phase`: initialized (6.0.1 released afterwards), progressing-20,
        waiting-promotion, promoting, finalising, succeeded, failed."""
        self.tick()
        self.dev.release("6.0.1")
        if phase == "initialized":
            return
        reached = {
            "progressing-20": lambda s: s.canary_weight == 20,
            "waiting-promotion": lambda s: s.canary_weight == 50,
            "promoting": lambda s: s.phase is Phase.PROMOTING,
            "finalising": lambda s: s.phase is Phase.FINALISING,
            "succeeded": lambda s: s.phase is Phase.SUCCEEDED,
            "failed": lambda s: s.phase is Phase.FAILED,
        }[phase]
        self.until(reached)
        if phase == "waiting-promotion":  # a confirm-promotion gate said no: no commit
            self.app.store.save(KEY, replace(self.state, phase=Phase.WAITING_PROMOTION), "wait")

    def delete_state_branch(self) -> None:
        git(self.dev.remote, "branch", "-D", "gitbot/state")

    def corrupt_state(self, content: str) -> None:
        self.app.workspace.write_branch_file("gitbot/state", STATE_FILE, content, "hand edit")

    def reconcile(self) -> str:
        result = CliRunner().invoke(cli, ["--config", str(self.config), "reconcile", "--once"])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result.stdout

    def main_subjects(self) -> list[str]:
        return git(self.dev.remote, "log", "--format=%s", "main").splitlines()

    def last_podinfo_commit(self) -> str:
        return git(self.dev.remote, "log", "-1", "--format=%H",
                   "--grep=Gitbot-Canary: test/podinfo", "main")

    def head(self) -> tuple[Traffic | None, int | None]:
        self.dev.pull()
        editor = ManifestEditor(self.dev.clone)
        return editor.get_traffic(self.canary), editor.get_replicas("test", "podinfo")


def rebuilt_events(state: RolloutState) -> list[str]:
    return [e.message for e in state.events if e.message.startswith(REBUILT)]


LOSSES = {
    "deleted": (Rig.delete_state_branch, "no state on gitbot/state"),
    "bogus-phase": (lambda rig: rig.corrupt_state('{"phase": "Bogus", "traffic": {}, '
                                                 '"step": 1}'),
                    "gitbot/state:canaries/test/podinfo.json: phase: 'Bogus' is not a valid Phase"),
    "not-json": (lambda rig: rig.corrupt_state("{\n  \"phase\": \"Progress"),
                 "gitbot/state:canaries/test/podinfo.json: line 2 column 12: not valid JSON "
                 "(Unterminated string starting at)"),
}
ACTIVE = ["progressing-20", "waiting-promotion", "promoting", "finalising", "succeeded", "failed"]
CASES = [
    pytest.param(phase, loss, id=f"{phase}-{loss}")
    for phase in ACTIVE for loss in (("deleted", "bogus-phase") if phase != "promoting"
                                     else ("deleted", "not-json"))
]


@pytest.mark.parametrize(("phase", "loss"), CASES)
def test_lost_state_is_rebuilt_where_the_run_stood(tmp_path: Path, phase: str, loss: str) -> None:
    rig = Rig.start(tmp_path, success_rate=70.0 if phase == "failed" else 99.9)
    rig.to_phase(phase)
    before, subjects = rig.state, rig.main_subjects()
    lose, cause = LOSSES[loss]
    lose(rig)

    out = rig.reconcile()

    after = rig.state
    resumed = Phase.PROGRESSING if before.phase is Phase.WAITING_PROMOTION else before.phase
    assert out.splitlines()[-1] == f"{KEY}: {resumed.value}"
    assert (after.phase, after.traffic, after.step, after.run, after.rollout_id) == (
        resumed, before.traffic, before.step, before.run, before.rollout_id)
    assert (after.last_applied_spec, after.last_promoted_spec) == (
        before.last_applied_spec, before.last_promoted_spec)
    assert after.failed_checks == 0 and after.pending is None
    [event] = rebuilt_events(after)
    assert event.startswith(f"{REBUILT}{cause}) at commit {rig.last_podinfo_commit()[:12]} (")
    # the other canary moved in the same pass; podinfo made no commit (the cluster's applied
    # revision is unknown without Prometheus, so an active run holds)
    assert out.splitlines()[0].startswith("test/backend: Initialized — committed ")
    assert rig.main_subjects()[1:] == subjects
    # reported once: the rebuilt state was saved
    rig.reconcile()
    assert len(rebuilt_events(rig.state)) == 1


@pytest.mark.parametrize("loss", ["deleted", "bogus-phase"])
def test_lost_state_after_initialization_still_analyses_the_new_release(
    tmp_path: Path, loss: str
) -> None:
    """The first bug: a lost state made the released 6.0.1 count as promoted, never analysed."""
    rig = Rig.start(tmp_path)
    rig.to_phase("initialized")  # initialized with 6.0.0, then 6.0.1 released
    before = rig.state
    LOSSES[loss][0](rig)

    out = rig.reconcile()

    after = rig.state
    assert out.splitlines()[-1] == f"{KEY}: Initialized"  # holds: the cluster's sync unknown
    assert (after.phase, after.step) == (Phase.INITIALIZED, before.step)
    assert (after.last_applied_spec, after.last_promoted_spec) == (
        before.last_applied_spec, before.last_promoted_spec)
    assert is_new_revision(after, rig.revision())  # the next synced tick starts its analysis
    assert len(rebuilt_events(after)) == 1


def test_lost_state_with_weights_edited_by_hand_rolls_back(tmp_path: Path) -> None:
    """The repository no longer shows the run the commits describe: roll back, never resume."""
    rig = Rig.start(tmp_path)
    rig.to_phase("progressing-20")
    rig.delete_state_branch()
    routing = "apps/podinfo/podinfo-routing.yaml"
    text = rig.dev.read(routing)
    edited = text.replace("weight: 80", "weight: 100").replace("weight: 20", "weight: 0")
    assert edited != text
    rig.dev.commit_files({routing: edited}, "Send everything to the primary")

    out = rig.reconcile()

    assert f"{KEY}: Failed — committed " in out
    assert (
        "podinfo.test: rollback: set traffic 100/0 and scale canary to 0 "
        "(revert of 3 commits conflicted)"
    ) in rig.main_subjects()[:2]
    assert rig.head() == (Traffic(100, 0), 0)
    state = rig.state
    assert state.phase is Phase.FAILED
    [event] = rebuilt_events(state)
    assert "cannot resume Progressing: the VirtualService declares canary weight 0" in event


def test_history_is_read_past_any_fixed_window(tmp_path: Path) -> None:
    """gitbot's last commit for the canary lies behind 400 commits of other people."""
    rig = Rig.start(tmp_path)
    rig.to_phase("progressing-20")
    before = rig.state
    clone = rig.dev.clone
    rig.dev.pull()
    for n in range(400):
        git(clone, "-c", "user.name=Dana", "-c", "user.email=dana@example.com",
            "commit", "-q", "--allow-empty", "-m", f"Unrelated change {n}")
    git(clone, "push", "-q", "origin", "HEAD:main")
    rig.delete_state_branch()

    rig.reconcile()

    after = rig.state
    assert (after.phase, after.traffic, after.step) == (Phase.PROGRESSING, before.traffic,
                                                        before.step)
    assert after.last_promoted_spec == before.last_promoted_spec
    [event] = rebuilt_events(after)
    assert f"at commit {rig.last_podinfo_commit()[:12]} (advance)" in event


def test_unreadable_state_without_gitbot_commits_starts_over(tmp_path: Path) -> None:
    rig = Rig.start(tmp_path)
    rig.corrupt_state("{")

    out = rig.reconcile()

    assert f"{KEY}: Initialized — committed " in out
    messages = [e.message for e in rig.state.events]
    assert messages[0] == (
        "State of podinfo.test could not be read (gitbot/state:canaries/test/podinfo.json: "
        "line 1 column 2: not valid JSON (Expecting property name enclosed in double quotes)) "
        "and the branch holds no gitbot commit for it: starting over"
    )
    assert messages[1] == "Initialization done! podinfo.test"
