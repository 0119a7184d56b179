"""Soak benchmark: the daemon's own cycle for many passes; memory, processes, descriptors, threads.

Run by `bench/scale.py` (its soak section starts this file in a fresh interpreter, so that the
figures are the soak's own and not the high-water mark of the benches before it) or alone:
`.venv/bin/python bench/soak.py` (10,000 passes over 100 canaries, about 25 minutes on
this 2-core machine under load; `--passes`, `--canaries`, `--busy-every`, `--tracemalloc`).

Drives `gitbot.daemon.Daemon` in-process as its APScheduler jobs would, on a fake clock, so that
10,000 passes do not take 10,000 intervals: before each cycle the clock jumps to the second the
next canary is due (the daemon's 1-s cycle grid), the lease job (`keep_lease`, every third of
the lease's duration) and the rescan job (every `daemon.passInterval`) run when their time has
come, then `Daemon.cycle` gives the due canaries their tick in one pass (sync, the picture of the
repository, batched Prometheus queries, the state branch, the gauges). Every `--busy-every`
passes a person pushes a commit: in turn a release of the next of 10 busy canaries (whose
rollout, a commit per step, then runs over the following passes) and an edit of the README.
Every 100 passes `/metrics` is rendered, as a scrape would. The start is measured after a
warm-up: every canary bootstrapped, initialized and once idle, and one rollout of each busy
canary, so that what is read and cached the first time is not counted as growth.

Prints, at the start (after the warm-up), every tenth of the run, the end and after the daemon
closed: RSS (and its maximum), live child processes by command and zombies, open file
descriptors, threads; and the sizes of what the daemon keeps between passes (the branch log,
the parsed files, the metric series). With `--tracemalloc` it also prints the allocation sites
that grew most between the start and the end (slower). Asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import generate_latest

from bench.scale import _git, make_app, make_repo, workloads
from gitbot.daemon import CYCLE_SECONDS, Daemon
from gitbot.reconciler import PassReport
from gitbot.sim.gitops import CanaryOptions, Developer
from gitbot.sim.promstub import PromStub

BUSY_CANARIES = 10  # the canaries a person releases in turn during the soak
WARM_UP_CYCLES = 5000  # the warm-up's rollouts end well before


class SoakClock:
    """One fake time for the reconciler and the lease (datetime) and the schedule (seconds)."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds


@dataclass
class Sample:
    """This process now: RSS (MB), child processes by command, zombies, descriptors, threads."""

    rss_mb: float
    children: Counter[str]
    zombies: int
    fds: int
    threads: int

    def line(self) -> str:
        kids = ", ".join(f"{n} {c}" for c, n in sorted(self.children.items())) or "none"
        return (f"RSS {self.rss_mb:6.1f} MB  child processes: {kids}  zombies {self.zombies}  "
                f"open fds {self.fds}  threads {self.threads}")


def sample() -> Sample:
    status = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    me, children, zombies = str(os.getpid()), Counter[str](), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        comm, rest = text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()
        if rest[1] != me:
            continue
        if rest[0] == "Z":
            zombies += 1
        else:
            children[_command(stat.parent) or comm] += 1
    return Sample(int(status["VmRSS"].split()[0]) / 1024, children, zombies,
                  len(os.listdir("/proc/self/fd")), int(status["Threads"]))


def holdings(daemon: Daemon) -> str:
    """The sizes of what the daemon keeps between passes (benchmark only: private fields)."""
    r = daemon.app.reconciler
    sizes = {
        "log commits": r.history.kept,
        "written commits": len(getattr(r.ws, "_made", ())),
        "parsed files": len(getattr(r.repo, "_docs", ())),
        "metric series": sum(len(m.samples) for m in daemon.metrics.registry.collect()),
    }
    return ", ".join(f"{name} {n}" for name, n in sizes.items())


def _command(proc: Path) -> str:
    """`git cat-file --batch`: the program and its first two arguments."""
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    return " ".join([Path(argv[0].decode()).name, *(a.decode() for a in argv[1:3] if a)])


class Soak:
    """A daemon over `canaries` canaries, its clock, and the person who pushes commits."""

    def __init__(self, base: Path, dev: Developer, prom: PromStub, canaries: int) -> None:
        self.dev, self.canaries, self.clock = dev, canaries, SoakClock()
        self.busy = list(range(min(BUSY_CANARIES, canaries)))  # the ones released in turn
        app = make_app(base, dev.remote, prom.url, self.clock)  # type: ignore[arg-type]
        self.daemon = Daemon(app)  # its APScheduler is never started: the soak runs its jobs
        self.daemon.schedule.clock = self.clock.monotonic
        if app.lease is not None:
            app.lease.clock = self.clock
        self.lease_every = app.lease.duration / 3 if app.lease is not None else 0.0
        self.rescan_every = app.settings.daemon.pass_interval
        self.next_lease = self.next_rescan = 0.0
        self.passes = self.cycles = self.rescans = self.leases = self.pushes = 0
        self.ticks = self.commits = self.errors = self.releases = 0
        self.per_canary: Counter[str] = Counter()  # ticks per canary, for the warm-up
        self.tags = 0  # the last image tag released is 6.<tags>.0
        self.rollouts: dict[str, str] = {}  # canary -> "progressing" / "done" since a release
        app.reconciler.run_pass = self._counted(app.reconciler.run_pass)  # type: ignore[method-assign]

    def cycle(self) -> None:
        """Jump to the next due second, run the jobs whose time came, then the daemon's cycle."""
        due = self.daemon.schedule.next_due()
        now = self.clock.seconds + CYCLE_SECONDS
        if due is not None and due > now:
            now = math.ceil(due / CYCLE_SECONDS) * CYCLE_SECONDS
        self.clock.seconds = now
        if self.lease_every and now >= self.next_lease:
            self.daemon.keep_lease()
            self.leases += 1
            self.next_lease = now + self.lease_every
        if now >= self.next_rescan:
            self.daemon.rescan()
            self.rescans += 1
            self.next_rescan = now + self.rescan_every
        self.cycles += 1
        self.daemon.cycle()

    def _counted(self, run_pass: Callable[..., PassReport]) -> Callable[..., PassReport]:
        """The reconciler's `run_pass`, counting passes, ticks, commits, failed ticks and
        following the rollouts."""

        def counted(only: Collection[str] | None = None) -> PassReport:
            report = run_pass(only)
            self.passes += 1
            self.ticks += len(report.ticks)
            self.per_canary.update(t.canary for t in report.ticks)
            self.commits += sum(1 for t in report.ticks if t.commit)
            self.errors += sum(1 for t in report.ticks if t.error)
            for t in report.ticks:
                if t.phase == "Progressing":
                    self.rollouts[t.canary] = "progressing"
                elif t.phase == "Succeeded" and self.rollouts.get(t.canary) == "progressing":
                    self.rollouts[t.canary] = "done"
            return report

        return counted

    def warm_up(self) -> None:
        """Every canary bootstrapped, initialized and once idle (its picture read), then one
        rollout of each busy canary (what a step reads and edits), so that the soak's start
        is past what a first time costs once."""
        while len(self.per_canary) < self.canaries or min(self.per_canary.values()) < 3:
            self.cycle()
        self.release(self.busy)
        keys = {_key(i) for i in self.busy}
        for _ in range(WARM_UP_CYCLES):
            if all(self.rollouts.get(k) == "done" for k in keys):
                return
            self.cycle()
        raise SystemExit(f"the warm-up rollouts did not finish: {self.rollouts}")

    def person_commits(self) -> None:
        """In turn, a release of the next busy canary (its rollout, a commit per step, follows
        over the next passes) or an edit of the README."""
        self.pushes += 1
        if self.pushes % 2:
            self.release([self.busy[self.releases % len(self.busy)]])
        else:
            self.dev.commit_files({"README.md": f"# gitops\n\nEdit {self.pushes}.\n"},
                                  f"README: edit {self.pushes}")

    def release(self, indices: list[int]) -> None:
        """A new image tag for these canaries' Deployments, in one commit."""
        self.releases += 1
        self.tags += 1
        tag, files = f"6.{self.tags}.0", {}
        self.dev.pull()
        for i in indices:
            rel = f"apps/podinfo{i or ''}/deployment.yaml"
            lines = (self.dev.clone / rel).read_text().splitlines()
            files[rel] = "\n".join(_retag(line, tag) for line in lines) + "\n"
        self.dev.commit_files(files, f"Release {tag} of {len(indices)} apps")


def _key(i: int) -> str:
    return f"ns{i}/podinfo{i}" if i else "test/podinfo"


def _retag(line: str, tag: str) -> str:
    if "image: " in line and "podinfo:" in line:
        return line.rsplit(":", 1)[0] + f":{tag}"
    return line


def run(canaries: int, passes: int, busy_every: int, trace: bool) -> None:
    options = CanaryOptions(interval="1m", metric_interval="1m", max_weight=30, step_weight=10)
    with tempfile.TemporaryDirectory(prefix="gitbot-soak-") as tmp:
        base = Path(tmp)
        dev = make_repo(base, canaries, canaries, options)
        with PromStub(dev.remote, workloads=workloads(canaries)) as prom:
            soak = Soak(base, dev, prom, canaries)
            try:
                _soak(soak, passes, busy_every, trace)
            finally:
                soak.daemon.app.close()
            print(f"after the daemon closed: {sample().line()}")
        commits = _git(base, "-C", str(dev.remote), "rev-list", "--count", "--all")
    print(f"the remote holds {commits} commits (both branches) after the soak")


def _soak(soak: Soak, passes: int, busy_every: int, trace: bool) -> None:
    began = time.perf_counter()
    soak.warm_up()
    print(f"warm-up: {soak.canaries} canaries bootstrapped, initialized, once idle, and one "
          f"rollout of {len(soak.busy)}: {soak.passes} passes, "
          f"{time.perf_counter() - began:.0f} s", flush=True)
    soak.passes = soak.ticks = soak.commits = soak.errors = soak.cycles = 0
    soak.rescans = soak.leases = soak.pushes = soak.releases = 0
    started = soak.clock.seconds
    if trace:
        tracemalloc.start(10)
    first, began, rss_max = sample(), time.perf_counter(), 0.0
    snapshot = tracemalloc.take_snapshot() if trace else None
    print(f"{'start':>12}: {first.line()}\n{'':>14}{holdings(soak.daemon)}", flush=True)
    mark = max(1, passes // 10)
    while soak.passes < passes:
        done = soak.passes
        soak.cycle()
        if soak.passes == done:
            continue
        if busy_every and soak.passes % busy_every == 0:
            soak.person_commits()
        if soak.passes % 100 == 0:
            generate_latest(soak.daemon.metrics.registry)  # a scrape of /metrics
            soak.daemon.health.problem()
        if soak.passes % mark == 0:
            now = sample()
            rss_max = max(rss_max, now.rss_mb)
            print(f"{soak.passes:>6} passes: {now.line()}  "
                  f"({(time.perf_counter() - began) / soak.passes * 1000:.0f} ms per pass)",
                  flush=True)
    elapsed, last = time.perf_counter() - began, sample()
    rss_max = max(rss_max, last.rss_mb)
    growth = (last.rss_mb - first.rss_mb) / first.rss_mb * 100
    simulated = timedelta(seconds=round(soak.clock.seconds - started))
    print(f"{passes} daemon passes over {soak.canaries} canaries in {elapsed:.0f} s "
          f"({elapsed / passes * 1000:.0f} ms each; {simulated} of daemon time: {soak.cycles} "
          f"cycles, {soak.rescans} rescans, {soak.leases} lease renewals; {soak.pushes} "
          f"commits by a person, {soak.releases} releases; {soak.ticks} ticks, "
          f"{soak.commits} of them with a commit by gitbot, {soak.errors} failed)")
    print(f"RSS {first.rss_mb:.1f} -> {last.rss_mb:.1f} MB ({growth:+.1f} %, max "
          f"{rss_max:.1f} MB); child processes {sum(first.children.values())} -> "
          f"{sum(last.children.values())}, zombies {first.zombies} -> {last.zombies}, "
          f"open fds {first.fds} -> {last.fds}, threads {first.threads} -> {last.threads}")
    print(f"the daemon holds: {holdings(soak.daemon)}")
    if snapshot is not None:
        _print_growth(snapshot)


def _print_growth(before: tracemalloc.Snapshot, top: int = 25) -> None:
    after = tracemalloc.take_snapshot()
    print(f"tracemalloc: the {top} allocation sites that grew most")
    for stat in after.compare_to(before, "traceback")[:top]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
              f"{stat.traceback.format()[-1].strip()}")
        for frame in stat.traceback.format()[-8:-1:2]:
            print(f"      {frame.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=10000, help="daemon passes to run")
    parser.add_argument("--canaries", type=int, default=100, help="canaries in the repository")
    parser.add_argument("--busy-every", type=int, default=50,
                        help="a person pushes a commit every N passes (0: never)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="print the allocation sites that grew most (slower)")
    args = parser.parse_args(argv)
    run(args.canaries, args.passes, args.busy_every, args.tracemalloc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
