"""One push per pass: every canary's step in its own commit (with its trailers), all pushed
together with one state-branch commit in ONE atomic push; a push race is retried without losing
or duplicating a step; a canary whose tick fails after committing is cut out of the batch.
Real remote, real reconciler, the benchmark's Prometheus-compatible server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitfixtures import git
from scaleworld import initialized, stepping_repo

from bench.probes import counting
from bench.scale import FakeClock, release_all
from gitbot.sim.gitops import Developer
from gitbot.sim.promstub import PromStub
from gitbot.wiring import App

CANARIES = 6


class RacingPrometheus(PromStub):
    """Pushes a developer's commit while the pass runs (at the first readiness query)."""

    def __init__(self, remote: Path, dev: Developer) -> None:
        super().__init__(remote)
        self.dev, self.armed = dev, False

    def answer(self, query: str) -> list[dict[str, Any]]:
        if self.armed and "kube_deployment" in query:
            self.armed = False
            self.dev.commit_files({"docs/runbook.md": "# on-call\n"}, "Add the runbook")
        return super().answer(query)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[App, RacingPrometheus, FakeClock, Developer]]:
    dev = stepping_repo(tmp_path, CANARIES)
    with RacingPrometheus(dev.remote, dev) as prom, \
            initialized(tmp_path, dev, prom.url) as (app, clock):
        yield app, prom, clock, dev


def _steps(remote: Path) -> list[tuple[str, str, str]]:
    """(canary, step, sha) of every gitbot commit on main, newest first."""
    out = git(remote, "log", "--format=%H%x00%(trailers:key=Gitbot-Canary,valueonly)%x00"
              "%(trailers:key=Gitbot-Step,valueonly)%x1e", "main")
    rows = [r.strip().split("\0") for r in out.split("\x1e") if r.strip()]
    return [(c.strip(), s.strip(), sha) for sha, c, s in rows if c.strip()]


@pytest.mark.parametrize("race", [pytest.param(False, id="alone"),
                                  pytest.param(True, id="someone-pushes-during-the-pass")])
def test_a_busy_pass_pushes_once_with_one_commit_per_canary(
    world: tuple[App, RacingPrometheus, FakeClock, Developer], race: bool
) -> None:
    app, prom, clock, dev = world
    release_all(dev, CANARIES)
    clock.advance(61)
    before = _steps(dev.remote)
    state_commits = _count(dev.remote, "gitbot/state")
    prom.armed = race
    with counting(prom) as counters:
        report = app.reconciler.run_pass()
    assert not any(t.error for t in report.ticks)
    new = _steps(dev.remote)[: len(_steps(dev.remote)) - len(before)]
    assert sorted(c for c, _, _ in new) == sorted(t.canary for t in report.ticks)
    assert {t.canary: t.commit for t in report.ticks} == {c: sha for c, _, sha in new}
    assert counters.pushes == 1 + race  # atomic: branch + state; a lost race retried once
    if race:
        assert git(dev.remote, "show", "main:docs/runbook.md") == "# on-call"
    states = [app.store.load(t.canary) for t in report.ticks]
    assert all(s is not None and s.pending is None and s.phase.value == "Progressing"
               for s in states)
    subjects = git(dev.remote, "log", "--format=%s", "gitbot/state").splitlines()
    assert re.match(rf"state of {CANARIES} canaries: ", subjects[0])
    assert _count(dev.remote, "gitbot/state") == state_commits + 1  # one, even after a retry


def test_a_canary_failing_after_its_commit_is_cut_out_of_the_batch(
    world: tuple[App, RacingPrometheus, FakeClock, Developer],
) -> None:
    app, _prom, clock, dev = world
    release_all(dev, CANARIES)
    clock.advance(61)
    before = _steps(dev.remote)
    states = {key: app.store.load(key) for key in _keys(app)}
    committed = []

    def fail_the_third(point: str) -> None:
        if point == "after-commit":
            committed.append(point)
            if len(committed) == 3:
                raise RuntimeError("disk full")

    app.reconciler.landing.crash = fail_the_third  # type: ignore[attr-defined]
    report = app.reconciler.run_pass()
    failed = [t for t in report.ticks if t.error]
    assert [t.error for t in failed] == ["RuntimeError: disk full"]
    bad = failed[0].canary
    new = _steps(dev.remote)[: len(_steps(dev.remote)) - len(before)]
    assert sorted(c for c, _, _ in new) == sorted(t.canary for t in report.ticks if t.commit)
    assert bad not in {c for c, _, _ in new} and len(new) == CANARIES - 1
    assert app.store.load(bad) == states[bad]  # its held state was dropped with its commit
    assert not app.workspace.is_dirty()  # (settles the index, which waits for a reader)
    assert git(app.workspace.root, "status", "--porcelain") == ""
    app.reconciler.landing.crash = lambda _point: None  # type: ignore[attr-defined]
    clock.advance(61)
    again = app.reconciler.run_pass()  # the next pass decides its step again
    assert {t.canary for t in again.ticks if t.commit} >= {bad}
    assert not any(t.error for t in again.ticks)


def _count(remote: Path, ref: str) -> int:
    return int(git(remote, "rev-list", "--count", ref))


def _keys(app: App) -> list[str]:
    return [c.key for c in app.reconciler.repo.specs().canaries]
