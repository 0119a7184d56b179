"""Issue 8, item 5: a slow webhook delays only its own canary. Two canaries (podinfo, backend)
in one real GitOps remote, a stand-in Prometheus (gitbot/sim/promstub.py), gates served by a
real server on 127.0.0.1 that holds a request until the test releases it. Assertions are on
commits, states and requests seen, never on wall time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from gatedserver import GatedServer, held
from test_state_rebuild import backend_files

from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.core.state import Phase, RolloutState
from gitbot.daemon import Daemon
from gitbot.reconciler import PassReport
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.sim.promstub import PromStub
from gitbot.wiring import App, build_app

PODINFO, BACKEND = "test/podinfo", "test/backend"
WAIT = 30.0  # upper bound for an event that comes at once when all is well


@dataclass
class World:
    dev: Developer
    hooks: GatedServer
    config: Path

    def daemon_app(self) -> App:
        """The reconciler as the daemon sets it up: a pass waits for its gates a short bound."""
        app = build_app(load_settings(self.config))
        Daemon(app)  # sets the bound: config webhooks.passWait (not started: passes by hand)
        assert app.reconciler.observer.hooks.settle_s == 2.0
        return app

    def release_both(self) -> None:
        self.dev.release("6.0.1")
        text = self.dev.read("apps/backend/deployment.yaml")
        self.dev.commit_files({"apps/backend/deployment.yaml": text.replace(":6.0.0", ":6.0.1")},
                              "Release backend 6.0.1")


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    kind = request.param
    with GatedServer() as hooks:
        # backend's Canary is podinfo's renamed: its gate is {url}/backend
        gate = {"name": "gate", "type": kind, "url": f"{hooks.url}/podinfo", "timeout": "60s"}
        dev = create_gitops_repo(tmp_path, options=CanaryOptions(webhooks=[gate]))
        dev.commit_files(backend_files(dev), "Add backend with a Canary")
        with PromStub(dev.remote) as prom:
            config = tmp_path / "config.yaml"
            config.write_text(
                f"git:\n  url: {dev.remote}\n  branch: main\n  workdir: {tmp_path / 'work'}\n"
                f"prometheus:\n  url: {prom.url}\n  timeout: 5\n", encoding="utf-8")
            yield World(dev, hooks, config)


def state(app: App, key: str) -> RolloutState:
    app.store.refresh()
    return app.store.load(key) or RolloutState()


def tick_of(report: PassReport, key: str) -> tuple[str, bool]:
    tick = next(t for t in report.ticks if t.canary == key)
    assert not tick.error, tick.error
    return tick.commit, tick.waiting


@pytest.mark.parametrize("world", ["pre-rollout"], indirect=True)
def test_a_held_pre_rollout_gate_holds_only_its_canary_and_fails_one_check(
    world: World,
) -> None:
    app = world.daemon_app()
    try:
        app.reconciler.run_pass()  # both initialized
        slow = world.hooks.script("/podinfo", held(500), 200)
        world.release_both()
        for _ in range(5):  # until their first analysis tick (pre-rollout)
            report = app.reconciler.run_pass()
            if world.hooks.hits("/backend"):
                break
        # that pass: podinfo's gate is held, backend's answered
        assert world.hooks.arrived("/podinfo", 1).is_set()
        assert tick_of(report, PODINFO) == ("", True)  # waiting: no commit, nothing counted
        assert tick_of(report, BACKEND)[0]  # backend took its first step in the same pass
        assert state(app, BACKEND).canary_weight > 0
        before = state(app, PODINFO)
        assert (before.phase, before.canary_weight, before.failed_checks) == (
            Phase.PROGRESSING, 0, 0)
        slow.set()  # the held call is answered 500: consumed by podinfo's next tick
        hooks = app.reconciler.observer.hooks
        bound, hooks.settle_s = hooks.settle_s, None  # (this test waits for the answer)
        assert list(hooks.settle([PODINFO])) == [PODINFO]
        hooks.settle_s = bound

        report = app.reconciler.run_pass()
        assert tick_of(report, PODINFO) == ("", False)  # failed check: no step
        assert state(app, PODINFO).failed_checks == 1
        report = app.reconciler.run_pass()  # asked again: 200
        assert tick_of(report, PODINFO)[0]
        after = state(app, PODINFO)
        assert (after.failed_checks, after.canary_weight > 0) == (1, True)
        assert world.hooks.hits("/podinfo") == 2  # the held answer was used exactly once
    finally:
        app.close()


@pytest.mark.parametrize("world", ["confirm-rollout"], indirect=True)
def test_one_reconcile_calls_the_slow_gates_of_two_canaries_at_the_same_time(
    world: World,
) -> None:
    runner = CliRunner()
    args = ["--config", str(world.config), "reconcile"]
    assert runner.invoke(cli, args).exit_code == 0  # both initialized
    world.release_both()
    podinfo = world.hooks.script("/podinfo", held(200))
    backend = world.hooks.script("/backend", held(200))
    together = threading.Event()

    def release_once_both_are_in_flight() -> None:
        if (world.hooks.arrived("/podinfo", 1).wait(WAIT)
                and world.hooks.arrived("/backend", 1).wait(WAIT)):
            together.set()
        podinfo.set()
        backend.set()

    releaser = threading.Thread(target=release_once_both_are_in_flight, daemon=True)
    releaser.start()
    done = runner.invoke(cli, args)
    releaser.join(WAIT)

    assert done.exit_code == 0, done.output
    assert together.is_set()  # neither gate was answered before the other was called
    lines = done.stdout.splitlines()
    assert [line.split(" — ")[0] for line in lines] == [
        f"{BACKEND}: {Phase.PROGRESSING.value}", f"{PODINFO}: {Phase.PROGRESSING.value}"]
    assert all("committed" in line for line in lines)  # both started in this one run
