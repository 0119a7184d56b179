"""Benchmarks: report numbers, assert nothing. Run: `.venv/bin/python bench/run.py`.

- spec loading: `load_repository` over a repository with N podinfo apps;
- manifest edit: one `set_traffic` + `save` on a VirtualService (ruamel round trip);
- decision: `decide` ticks per second over a whole simulated run;
- git: one commit + push cycle to a local bare remote (`GitWorkspace`).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.specs import load_repository
from gitbot.core.decide import decide
from gitbot.core.state import MetricResult, Observation, RolloutState, Traffic
from gitbot.sim.gitops import create_gitops_repo


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and p90 in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def bench_load(base: Path, apps: int) -> None:
    dev = create_gitops_repo(base)
    for i in range(1, apps):
        target = dev.clone / f"apps/podinfo{i}"
        target.mkdir(parents=True)
        for f in (dev.clone / "apps/podinfo").iterdir():
            text = f.read_text().replace("name: podinfo", f"name: podinfo{i}")
            (target / f.name).write_text(text.replace("namespace: test", f"namespace: ns{i}"))
    med, p90 = timed(lambda: load_repository(dev.clone), 5)
    print(f"load_repository, {apps} apps ({apps * 3} files): median {med:.1f} ms, p90 {p90:.1f} ms")


def bench_edit(base: Path) -> None:
    dev = create_gitops_repo(base)
    canary = load_repository(dev.clone).canaries[0]
    editor = ManifestEditor(dev.clone)
    editor.bootstrap(canary)
    editor.save()
    weights = iter(range(10**6))

    def one() -> None:
        w = next(weights) % 100
        ed = ManifestEditor(dev.clone)
        ed.set_traffic(canary, Traffic(100 - w, w))
        ed.save()

    med, p90 = timed(one, 50)
    print(f"set_traffic + save (fresh editor): median {med:.1f} ms, p90 {p90:.1f} ms")


def bench_decide(base: Path) -> None:
    dev = create_gitops_repo(base)
    canary = load_repository(dev.clone).canaries[0]
    passing = (MetricResult("request-success-rate", 100.0, True, "ok"),)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    ticks = 0
    start = time.perf_counter()
    for _ in range(200):
        state = RolloutState()
        for rev in ("a", "b"):
            for _ in range(15):
                obs = Observation(target_revision=rev, bootstrapped=True, metrics=passing)
                state = decide(canary, state, obs, now).state
                ticks += 1
    elapsed = time.perf_counter() - start
    print(f"decide: {ticks / elapsed:,.0f} ticks/s ({elapsed / ticks * 1e6:.1f} µs per tick)")


def bench_git(base: Path) -> None:
    dev = create_gitops_repo(base)
    with GitWorkspace(str(dev.remote), "main", base / "work") as ws:
        ws.sync()
        counter = iter(range(10**6))

        def cycle() -> None:
            (ws.root / "bench.txt").write_text(f"{next(counter)}\n")
            ws.commit("bench: one line", trailers=[("Gitbot-Canary", "test/podinfo")])
            ws.push()

        med, p90 = timed(cycle, 30)
        print(f"commit + push to a local bare remote: median {med:.1f} ms, p90 {p90:.1f} ms")
        med, p90 = timed(ws.sync, 30)
        print(f"sync (fetch + reset) with nothing new: median {med:.1f} ms, p90 {p90:.1f} ms")


def main() -> int:
    print(f"python {sys.version.split()[0]}, git {_git_version()}")
    for name, fn in (
        ("load", lambda d: bench_load(d, 50)),
        ("edit", bench_edit),
        ("decide", bench_decide),
        ("git", bench_git),
    ):
        with tempfile.TemporaryDirectory(prefix=f"gitbot-bench-{name}-") as tmp:
            fn(Path(tmp))
    return 0


def _git_version() -> str:
    return subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[-1]


if __name__ == "__main__":
    sys.exit(main())
