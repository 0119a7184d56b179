"""What one pass costs with many canaries: files parsed, git processes, Prometheus queries.

A real bare remote with 12 canaries, the real reconciler (`build_app`), the benchmark's
Prometheus-compatible server on 127.0.0.1 and its counters (bench/probes.py). An idle pass costs
the same few git processes whatever the number of canaries and parses nothing; a release
re-reads only the changed files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from scaleworld import initialized, stepping_repo

from bench.probes import counting
from bench.scale import FakeClock, release_all
from gitbot.sim.gitops import Developer
from gitbot.sim.promstub import PromStub
from gitbot.wiring import App

CANARIES = 12


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[App, PromStub, FakeClock, Developer]]:
    dev = stepping_repo(tmp_path, CANARIES)
    with PromStub(dev.remote) as prom, initialized(tmp_path, dev, prom.url) as (app, clock):
        yield app, prom, clock, dev


def test_an_idle_pass_parses_nothing_and_runs_a_fixed_number_of_git_processes(
    world: tuple[App, PromStub, FakeClock, Developer],
) -> None:
    app, prom, _clock, _dev = world
    with counting(prom) as counters:
        report = app.reconciler.run_pass()
    assert len(report.ticks) == CANARIES and not any(t.error for t in report.ticks)
    assert (counters.files_read, counters.yaml_parses, counters.pushes) == (0, 0, 0)
    assert counters.git_processes <= 10  # sync (6), the state branch (4); none per canary
    applied = [q for q in prom.queries if "gotk_resource_info" in q]
    assert len(applied) == 1


def test_a_release_rereads_only_the_changed_file(
    world: tuple[App, PromStub, FakeClock, Developer],
) -> None:
    app, prom, _clock, dev = world
    dev.release("6.0.1")  # apps/podinfo/deployment.yaml only
    with counting(prom) as counters:
        report = app.reconciler.run_pass()
    ticked = {t.canary: t for t in report.ticks}
    assert ticked["test/podinfo"].commit  # the new revision starts a run
    assert not any(t.commit for key, t in ticked.items() if key != "test/podinfo")
    # the deployment (specs and manifests), then the files the step edited and committed
    assert counters.files_read <= 6


def test_a_busy_pass_costs_one_git_process_per_canary_step(
    world: tuple[App, PromStub, FakeClock, Developer],
) -> None:
    app, prom, clock, dev = world
    release_all(dev, CANARIES)  # every canary gets a new revision
    app.reconciler.run_pass()  # detect: the runs start
    clock.advance(61)
    with counting(prom) as counters:
        report = app.reconciler.run_pass()  # every canary one step, one commit each
    assert not any(t.error for t in report.ticks)
    assert sum(1 for t in report.ticks if t.commit) == CANARIES
    assert counters.pushes == 1
    # a fixed few for the pass: fetch, the atomic push; the commits are written without
    # `git add`/`git commit` and the index waits for a command that needs it (`git_fast`)
    assert counters.git_processes <= 4  # before: 3 per canary (add, commit, log)
    assert not app.reconciler.ws.is_dirty()  # settles the index: then nothing to commit
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=app.reconciler.ws.root,
                              capture_output=True, text=True, check=True).stdout


def test_idle_ticks_read_no_history_and_busy_ticks_only_their_own_commits(
    world: tuple[App, PromStub, FakeClock, Developer],
) -> None:
    app, _prom, clock, dev = world
    history = app.reconciler.history
    app.reconciler.run_pass()  # the idle canaries' last commits looked up once, remembered
    examined = history.examined
    dev.commit_files({"README.md": "# a person's edit\n"}, "README: a person's edit")
    for _ in range(2):
        report = app.reconciler.run_pass()
        clock.advance(61)
        assert not any(t.error or t.commit for t in report.ticks)
    assert history.examined == examined  # the applied-revision gate asked no lookup
    release_all(dev, CANARIES)
    app.reconciler.run_pass()  # detect: the runs start
    clock.advance(61)
    examined = history.examined
    report = app.reconciler.run_pass()  # every canary one step, one commit each
    assert sum(1 for t in report.ticks if t.commit) == CANARIES
    # each tick: its own history (the drift check) and its last commit (the gate), one
    # commit of its own each
    assert history.examined - examined <= 2 * CANARIES  # reading back: about N x N (144)
