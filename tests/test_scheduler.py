"""The canary schedule: staggered phases, every due canary ticked, late ticks coalesced.

Driven by a fake clock the way the daemon's cycle drives it (one pass per cycle for all due
canaries); no threads, no sleeping. The last test drives a real daemon's cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from pathlib import Path

import pytest

from gitbot.config import load_settings
from gitbot.daemon import Daemon
from gitbot.reconciler import PassReport
from gitbot.scheduler import CanarySchedule, phase
from gitbot.sim.gitops import create_gitops_repo
from gitbot.wiring import build_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(schedule: CanarySchedule, clock: Clock, seconds: float, cycle: float = 1.0,
          pass_seconds: float = 0.0) -> tuple[Counter[str], list[int]]:
    """Run the daemon's cycle for `seconds`: ticks per canary and canaries per pass."""
    ticks: Counter[str] = Counter()
    passes: list[int] = []
    end = clock.now + seconds
    while clock.now + cycle <= end:
        clock.now += cycle
        due = schedule.due()
        if due:
            ticks.update(due)
            passes.append(len(due))
            clock.now += pass_seconds
            schedule.ticked(due)
    return ticks, passes


def test_a_thousand_canaries_each_get_every_tick_spread_over_the_interval() -> None:
    clock = Clock()
    schedule = CanarySchedule(clock)
    keys = [f"ns{i}/app{i}" for i in range(1000)]
    schedule.update(dict.fromkeys(keys, 60.0))
    first = schedule.due()
    assert sorted(first) == sorted(keys)  # new canaries: all in the first pass
    schedule.ticked(first)
    ticks, passes = drive(schedule, clock, 600)
    assert set(ticks) == set(keys)
    assert set(ticks.values()) == {10}  # ten minutes at 1 minute: ten ticks each
    assert max(passes) <= 40  # ~17 a second on average, never all at once
    assert len(passes) >= 500


def test_a_slow_pass_coalesces_missed_ticks_and_keeps_the_phase() -> None:
    clock = Clock()
    schedule = CanarySchedule(clock)
    schedule.update({"ns/a": 10.0})
    schedule.ticked(schedule.due())
    ticks, _ = drive(schedule, clock, 100, pass_seconds=25.0)  # each pass takes 2.5 intervals
    assert 3 <= ticks["ns/a"] <= 4  # not ten: missed ticks are not replayed
    nxt = schedule.next_due()
    assert nxt is not None and (nxt - phase("ns/a", 10.0)) % 10.0 == pytest.approx(0.0)


def test_update_adds_removes_and_retimes() -> None:
    clock = Clock()
    schedule = CanarySchedule(clock)
    schedule.update({"ns/a": 10.0, "ns/b": 10.0})
    schedule.ticked(schedule.due())
    schedule.update({"ns/a": 30.0})  # b is gone, a has a new interval
    assert set(schedule.keys()) == {"ns/a"}
    nxt = schedule.next_due()
    assert nxt is not None and clock.now <= nxt < clock.now + 30.0
    assert (nxt - phase("ns/a", 30.0)) % 30.0 == pytest.approx(0.0)


@pytest.mark.parametrize("interval", [pytest.param(10.0, id="10s"), pytest.param(60.0, id="1m")])
def test_phases_are_stable_and_inside_the_interval(interval: float) -> None:
    phases = [phase(f"ns/app{i}", interval) for i in range(200)]
    assert phases == [phase(f"ns/app{i}", interval) for i in range(200)]
    assert all(0 <= p < interval for p in phases)
    assert len({int(p) for p in phases}) >= interval * 0.8  # spread, not bunched


def test_the_daemon_cycle_ticks_due_canaries_in_one_pass_and_not_after_shutdown(
    tmp_path: Path,
) -> None:
    """A real daemon over a real repository: the rescan fills the schedule, one cycle gives
    every due canary its tick in ONE reconciler pass, a cycle with nothing due runs no pass."""
    dev = create_gitops_repo(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
                      "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n", encoding="utf-8")
    daemon = Daemon(build_app(load_settings(config)))
    clock = Clock()
    daemon.schedule = CanarySchedule(clock)
    passes: list[list[str]] = []
    real = daemon.app.reconciler.run_pass

    def counted(only: Collection[str] | str | None = None) -> PassReport:
        passes.append(sorted(only or []))
        return real(only)

    daemon.app.reconciler.run_pass = counted  # type: ignore[method-assign]
    try:
        daemon.rescan()
        daemon.cycle()
        assert passes == [["test/podinfo"]]
        daemon.cycle()  # ticked: not due again before its next slot
        assert len(passes) == 1
        clock.now += 60.0
        daemon.cycle()
        assert len(passes) == 2
        assert daemon.shutdown(grace_s=5) is True
        clock.now += 60.0
        daemon.cycle()  # after SIGTERM's shutdown nothing starts
        assert len(passes) == 2
    finally:
        daemon.app.close()
