"""`gitbot demo`: the whole loop on one machine in a few minutes.

A GitOps repository (a bare remote in a temporary directory) with podinfo and a Canary, the
simulated Flux + Istio cluster, a real Prometheus, a chat inbox, and gitbot reconciling pass
after pass while a live table shows phase, weight, failed checks and the last commit. Act 1
releases a healthy version (progressive traffic, promotion); act 2 releases a broken one
(halts, rollback by revert). Ends with the repository's `git log --graph --oneline`.
Every process it starts is stopped, also on Ctrl-C. Called by the CLI.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gitbot.errors import GitbotError
from gitbot.reconciler import PassReport
from gitbot.sim.gitops import CanaryOptions
from gitbot.sim.world import World


class Story:
    """The live view: one table row per pass that committed something, plus the status."""

    def __init__(self, world: World, console: Console) -> None:
        self.world = world
        self.console = console
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.live: Live | None = None

    def table(self) -> Table:
        table = Table(title="gitbot reconcile passes (commits only)", expand=False)
        for col in ("STATUS", "WEIGHT", "FAILEDCHECKS", "COMMIT", "LAST EVENT"):
            table.add_column(col, no_wrap=col != "LAST EVENT")
        for row in self.rows[-14:]:
            table.add_row(*row)
        state = self.world.state()
        last = state.events[-1].message if state.events else ""
        table.add_row(f"[bold]{state.phase.value}", str(state.canary_weight),
                      str(state.failed_checks), "[dim](now)", last)
        return table

    def on_pass(self, report: PassReport) -> None:
        state = self.world.state()
        for tick in report.ticks:
            if tick.commit or tick.error:
                commit = (
                    f"{tick.commit[:7]} {tick.subject}" if tick.commit else f"error: {tick.error}"
                )
                last = state.events[-1].message if state.events else ""
                self.rows.append((state.phase.value, str(state.canary_weight),
                                  str(state.failed_checks), commit, last))
        if self.live:
            self.live.update(self.table())

    def act(self, title: str, phases: set[str]) -> None:
        self.console.rule(f"[bold]{title}")
        self.rows = []
        with Live(self.table(), console=self.console, refresh_per_second=4) as live:
            self.live = live
            self.world.run_until(phases, on_pass=self.on_pass)
            live.update(self.table())
        self.live = None


def run_demo(*, keep: bool = False, fast: bool = False) -> int:
    console = Console()
    base = Path(tempfile.mkdtemp(prefix="gitbot-demo-"))
    options = CanaryOptions(alert_url="inbox", interval="10s", metric_interval="8s")
    try:
        with World(base, options=options, pace=3.0 if fast else 4.0) as world:
            _tell(world, console, fast)
    except KeyboardInterrupt:
        console.print("\n[yellow]Interrupted: every process the demo started is stopped.")
        return 130
    except (GitbotError, TimeoutError) as err:
        console.print(f"[red]demo failed: {err}")
        return 1
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    if keep:
        console.print(f"\nThe repository is kept: git clone {base / 'gitops.git'}")
    return 0


def _tell(world: World, console: Console, fast: bool) -> None:
    story = Story(world, console)
    console.print(
        f"GitOps remote [cyan]{world.dev.remote}[/]; Prometheus at [cyan]{world.prometheus.url}"
        f"[/]; simulated Flux applies [cyan]main[/] every {world.flux_interval}s.\n"
        "podinfo 6.0.0 runs with a Flagger Canary (maxWeight 50, stepWeight 10, threshold 5)."
    )
    story.act("Initialization: gitbot generates podinfo-primary, services and routing",
              {"Initialized"})
    sha = world.dev.release("6.0.1")
    console.print(f"\nDana releases podinfo [green]6.0.1[/] (healthy): commit {sha[:7]}")
    story.act("Act 1: a healthy release, one commit per traffic step", {"Succeeded"})
    sha = world.dev.release("6.0.2")
    console.print(f"\nDana releases podinfo [red]6.0.2[/] (30% errors): commit {sha[:7]}")
    story.act("Act 2: a broken release, halted and rolled back by revert", {"Failed"})
    _epilogue(world, console)


def _epilogue(world: World, console: Console) -> None:
    console.rule("[bold]The rollout log is the Git history")
    console.print(world.dev.log_graph(), markup=False, highlight=False)
    console.rule("[bold]Events (Flagger's wording)")
    for event in world.state().events[-10:]:
        console.print(f"{event.type:8} {event.message}", markup=False, highlight=False)
    primary = world.dev.read("apps/podinfo/podinfo-primary.yaml")
    image = next((ln.strip() for ln in primary.splitlines() if "image:" in ln), "?")
    chats = world.inbox.messages("/slack")
    console.print(
        f"\npodinfo-primary still runs [green]{image}[/]; {len(chats)} chat messages were "
        "posted to the on-call channel."
    )
