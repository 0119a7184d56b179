"""Scale benchmark: gitbot over many canaries in one repository. Reports numbers, asserts nothing.

Run from a fresh checkout: `.venv/bin/python bench/scale.py` (options: `--canaries 10,100`,
`--apps 1,1000`, `--steps 5`). Everything is local: a bare remote in a temporary directory and a
Prometheus-compatible HTTP server on 127.0.0.1 that answers every query gitbot sends (all
deployments ready, every canary's metrics passing, Flux applied the remote's head) and counts them.

Prints
- step overhead: one weight step by gitbot (a whole `run_pass`) against the same edit +
  `git commit` + `git push` by the git command line, interleaved, as a ratio, at 1 and 1,000 apps;
- idle and busy pass over N canaries: wall, CPU (with children), YAML files read and parsed, git
  subprocesses, Prometheus queries, pushes, and the process' peak RSS;
- soak (bench/soak.py): the daemon's own cycle for 10,000 passes, idle and busy, on a fake
  clock: RSS at the start, the end and its maximum, child processes (git's among them) and
  zombies, open file descriptors, threads.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.probes import Counters, counting
from gitbot.config import Settings
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.sim.promstub import PromStub
from gitbot.wiring import App, build_app


def workloads(canaries: int) -> set[tuple[str, str]]:
    """The Deployments of `make_repo`'s canaries and their primaries, as (namespace, name)."""
    names = [("test", "podinfo")] + [(f"ns{i}", f"podinfo{i}") for i in range(1, canaries)]
    return {(ns, n + suffix) for ns, n in names for suffix in ("", "-primary")}


def make_repo(base: Path, apps: int, canaries: int, options: CanaryOptions,
              template: bool = False) -> Developer:
    """A remote with `apps` podinfo copies (`podinfo`, `podinfo1`, ...), the first `canaries`
    of them with a Canary, pushed in one commit; with `template`, every Canary also checks
    one shared MetricTemplate (`add_metric_template`)."""
    dev = create_gitops_repo(base, options=options)
    source = dev.clone / "apps/podinfo"
    originals = {f.name: f.read_text() for f in source.iterdir()}
    for i in range(1, apps):
        target = dev.clone / f"apps/podinfo{i}"
        target.mkdir(parents=True)
        for name, text in originals.items():
            if name == "canary.yaml" and i >= canaries:
                continue
            text = text.replace("name: podinfo", f"name: podinfo{i}")
            if name == "kustomization.yaml" and i >= canaries:
                text = text.replace("  - canary.yaml\n", "")
            (target / name).write_text(text.replace("namespace: test", f"namespace: ns{i}"))
    if canaries == 0:
        (source / "canary.yaml").unlink()
    if template:
        add_metric_template(dev.clone)
    _git(dev.clone, "add", "-A")
    _git(dev.clone, "commit", "-q", "--allow-empty", "-m", f"{apps} apps, {canaries} canaries")
    _git(dev.clone, "push", "-q", "origin", "HEAD:main")
    return dev


TEMPLATE_SELECTOR = 'namespace="{{ namespace }}",app="{{ target }}"'
METRIC_TEMPLATE = f"""apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: test
spec:
  provider:
    type: prometheus
  query: |
    sum(rate(http_requests_total{{{TEMPLATE_SELECTOR},status!~"5.."}}[{{{{ interval }}}}]))
    / sum(rate(http_requests_total{{{TEMPLATE_SELECTOR}}}[{{{{ interval }}}}])) * 100
"""
TEMPLATE_METRIC = """    - name: error-rate
      templateRef:
        name: error-rate
        namespace: test
      thresholdRange:
        min: 99
      interval: 1m
"""


def add_metric_template(clone: Path) -> None:
    """One MetricTemplate (namespace `test`) that every Canary's analysis refers to."""
    source = clone / "apps/podinfo"
    (source / "metric-template.yaml").write_text(METRIC_TEMPLATE)
    kustomization = source / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - metric-template.yaml\n")
    for canary in clone.glob("apps/*/canary.yaml"):
        canary.write_text(canary.read_text() + TEMPLATE_METRIC)


class FakeClock:
    """The reconciler's clock: starts now, moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_app(base: Path, remote: Path, prom_url: str, clock: FakeClock) -> App:
    settings = Settings.model_validate({
        "git": {"url": str(remote), "workdir": str(base / "work"),
                "author": {"name": "gitbot", "email": "gitbot@example.com"}},
        "prometheus": {"url": prom_url},
    })
    app = build_app(settings)
    app.reconciler.clock = clock
    return app


@dataclass
class PassFigures:
    wall: float
    cpu: float
    counters: Counters
    ticks: int
    commits: int
    rss_mb: float = field(default=0.0)

    def line(self, label: str) -> str:
        c = self.counters
        return (f"{label:<28} wall {self.wall:7.2f} s  cpu {self.cpu:7.2f} s  ticks {self.ticks:5d}"
                f"  commits {self.commits:5d}  files read {c.files_read:6d}  YAML parses "
                f"{c.yaml_parses:7d}  git {c.git_processes:6d}  prom {c.prom_queries():5d}  "
                f"pushes {c.pushes:4d}  peak RSS {self.rss_mb:5.0f} MB")


def timed_pass(app: App, prom: PromStub) -> PassFigures:
    with counting(prom) as counters:
        cpu0, wall0 = _cpu(), time.perf_counter()
        report = app.reconciler.run_pass()
        wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    commits = sum(1 for t in report.ticks if t.commit)
    return PassFigures(wall, cpu, counters, len(report.ticks), commits, _peak_rss_mb())


def bench_passes(canaries: int, fast_only: bool, template: bool = False) -> None:
    options = CanaryOptions(interval="1m", metric_interval="1m", max_weight=50, step_weight=10)
    with tempfile.TemporaryDirectory(prefix="gitbot-scale-") as tmp:
        base = Path(tmp)
        dev = make_repo(base, canaries, canaries, options, template)
        clock = FakeClock()
        with PromStub(dev.remote, workloads=workloads(canaries)) as prom:
            app = make_app(base, dev.remote, prom.url, clock)
            try:
                first = timed_pass(app, prom)  # bootstraps every canary
                print(first.line(f"{canaries} canaries: bootstrap"))
                clock.advance(61)
                print(timed_pass(app, prom).line(f"{canaries} canaries: initialize"))
                clock.advance(61)
                print(timed_pass(app, prom).line(f"{canaries} canaries: idle"))
                if fast_only:
                    return
                release_all(dev, canaries)
                clock.advance(61)
                print(timed_pass(app, prom).line(f"{canaries} canaries: busy (detect)"))
                clock.advance(61)
                print(timed_pass(app, prom).line(f"{canaries} canaries: busy (1st step)"))
                if template:  # the first pass that analyses metrics (builtins + template)
                    clock.advance(61)
                    print(timed_pass(app, prom).line(f"{canaries} canaries: busy (2nd step)"))
            finally:
                app.close()


def release_all(dev: Developer, canaries: int) -> None:
    """A new image tag for every app, in one commit (a platform-wide base image bump)."""
    dev.pull()
    for i in range(canaries):
        path = dev.clone / f"apps/podinfo{i or ''}/deployment.yaml"
        text = path.read_text()
        path.write_text(re.sub(r"podinfo:6\.0\.0", "podinfo:6.0.1", text))
    _git(dev.clone, "commit", "-q", "-am", "Release 6.0.1 everywhere")
    _git(dev.clone, "push", "-q", "origin", "HEAD:main")


def bench_soak(canaries: int, passes: int) -> None:
    """The daemon's own cycle for `passes` passes (bench/soak.py), in a fresh interpreter so
    that its RSS is its own, not the high-water mark of the benches before it."""
    soak = Path(__file__).resolve().with_name("soak.py")
    subprocess.run([sys.executable, str(soak), "--passes", str(passes),
                    "--canaries", str(canaries)], check=True)


def bench_step(apps: int, steps: int) -> None:
    """gitbot's weight step vs the git CLI doing the same edit, interleaved."""
    options = CanaryOptions(interval="1m", metric_interval="1m", max_weight=100, step_weight=1)
    with tempfile.TemporaryDirectory(prefix="gitbot-step-") as tmp:
        base = Path(tmp)
        dev = make_repo(base, apps, 1, options)
        clock = FakeClock()
        with PromStub(dev.remote, workloads=workloads(1)) as prom:
            app = make_app(base, dev.remote, prom.url, clock)
            try:
                for _ in range(2):  # bootstrap, initialize
                    app.reconciler.run_pass()
                    clock.advance(61)
                dev.release("6.0.1")
                app.reconciler.run_pass()  # detect the new revision: progressing, weight 1
                cli = _cli_clone(base, dev.remote)
                vs = _virtual_service(cli)
                # the set-up wrote thousands of files (the repository, three clones): their
                # write-back would land in the middle of the measured steps, stalling the
                # file creations of whichever side it hits; both sides start from a clean disk
                os.sync()
                ours, theirs, git_counts = [], [], []
                for n in range(steps):
                    clock.advance(61)
                    with counting(prom) as counters:
                        start = time.perf_counter()
                        report = app.reconciler.run_pass()
                        ours.append(time.perf_counter() - start)
                    assert any(t.commit for t in report.ticks), report
                    git_counts.append((counters.git_processes, counters.pushes))
                    start = time.perf_counter()
                    _cli_step(cli, vs, n)
                    theirs.append(time.perf_counter() - start)
            finally:
                app.close()
    mine, cli_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    gits = statistics.median(g for g, _ in git_counts)
    pushes = statistics.median(p for _, p in git_counts)
    # each gitbot step is paired with the CLI step right after it: a pair shares the
    # machine's weather, so the pairs' ratios are steadier than the ratio of two medians
    pairs = sorted(o / t for o, t in zip(ours, theirs, strict=True))
    spread = ""
    if len(pairs) >= 10:
        tenth = statistics.quantiles(pairs, n=10)
        spread = f", pairs' 10th-90th percentile {tenth[0]:.2f}-{tenth[-1]:.2f}x"
    print(f"step, {apps:5d} apps: gitbot {mine:7.1f} ms ({gits:.0f} git processes, {pushes:.0f} "
          f"pushes), git CLI {cli_ms:6.1f} ms (3 git processes, 1 push): "
          f"{mine / cli_ms:5.2f}x (medians of {steps}); median of the interleaved pairs' "
          f"ratios {statistics.median(pairs):.2f}x{spread}")


def _cli_clone(base: Path, remote: Path) -> Path:
    """A copy of the remote at this point, cloned: the git command line works there."""
    mirror = base / "cli.git"
    _git(base, "clone", "-q", "--bare", str(remote), str(mirror))
    clone = base / "cli"
    _git(base, "clone", "-q", str(mirror), str(clone))
    _git(clone, "config", "user.name", "Cli")
    _git(clone, "config", "user.email", "cli@example.com")
    return clone


def _virtual_service(clone: Path) -> Path:
    for path in sorted(clone.rglob("*.yaml")):
        if "kind: VirtualService" in path.read_text():
            return path
    raise SystemExit("no VirtualService in the repository after bootstrap")


def _cli_step(clone: Path, vs: Path, n: int) -> None:
    text = vs.read_text()
    weights = iter((99 - n % 98, 1 + n % 98))
    vs.write_text(re.sub(r"weight: \d+", lambda _m: f"weight: {next(weights, 0)}", text))
    _git(clone, "commit", "-q", "-am", f"podinfo: weight {1 + n % 98}")
    _git(clone, "push", "-q", "origin", "HEAD:main")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@contextmanager
def section(title: str) -> Iterator[None]:
    print(f"== {title}", flush=True)
    yield
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", default="10,100,1000", help="pass sizes, comma-separated")
    parser.add_argument("--apps", default="1,1000", help="repository sizes for the step bench")
    parser.add_argument("--steps", type=int, default=25, help="interleaved steps per size")
    parser.add_argument("--idle-only", action="store_true", help="skip the busy passes")
    parser.add_argument("--template", action="store_true",
                        help="every Canary also checks one shared MetricTemplate")
    parser.add_argument("--soak", type=int, default=10000,
                        help="daemon passes for the RSS/process/fd check, bench/soak.py "
                             "(0: skip; 10,000 take about 25 minutes)")
    parser.add_argument("--soak-canaries", type=int, default=100,
                        help="canaries in the soak's repository")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {_git(Path.cwd(), 'version')}, {os.cpu_count()} cpus")
    run: list[tuple[str, Callable[[], None]]] = []
    for apps in _sizes(args.apps):
        run.append((f"step overhead, {apps} apps", lambda a=apps: bench_step(a, args.steps)))
    for n in _sizes(args.canaries):
        run.append((f"passes, {n} canaries", lambda n=n: bench_passes(n, args.idle_only,
                                                                    args.template)))
    if args.soak:
        run.append((f"soak, {args.soak} daemon passes over {args.soak_canaries} canaries",
                    lambda: bench_soak(args.soak_canaries, args.soak)))
    for title, fn in run:
        with section(title):
            fn()
    return 0


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


if __name__ == "__main__":
    sys.exit(main())
