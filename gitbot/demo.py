"""`gitbot demo`: the whole loop on one machine in a few minutes.

A GitOps repository (a bare remote in a temporary directory) with podinfo and a Canary, the
simulated Flux + Istio cluster, a real Prometheus, a chat inbox, and gitbot reconciling pass
after pass while a live table shows phase, weight, failed checks and the last commit. Act 1
releases a healthy version (progressive traffic, promotion); act 2 releases a broken one
(halts, rollback by revert), then the repository's `git log --graph --oneline`. Act 3 switches
the same repository to pull-request mode: gitbot merges each traffic step's PR itself, the
promotion PR waits in WaitingPromotion, its body is printed, and `gitbot approve` releases it.
Every process it starts is stopped, also on Ctrl-C. Called by the CLI.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gitbot.adapters.forges.local import LocalForge
from gitbot.approval import approve_promotion
from gitbot.errors import GitbotError
from gitbot.reconciler import PassReport
from gitbot.sim.gitops import CanaryOptions
from gitbot.sim.world import World
from gitbot.status import render_table

PR_CONFIG = "forge:\n  type: local\npullRequests:\n  review: [promote]\n  mergeMethod: merge\n"


class Story:
    """The live view: one row per commit gitbot makes, and a last row for the status now."""

    def __init__(self, world: World, console: Console) -> None:
        self.world = world
        self.console = console
        self.rows: list[tuple[str, str, str, str]] = []
        self.live: Live | None = None

    def table(self) -> Table:
        table = Table(title="gitbot, one reconcile pass at a time (passes that committed)")
        table.add_column("STATUS", no_wrap=True)
        table.add_column("WEIGHT", justify="right", no_wrap=True)
        table.add_column("FAILED", justify="right", no_wrap=True)
        table.add_column("COMMIT", overflow="fold")
        for row in self.rows[-14:]:
            table.add_row(*row)
        state = self.world.state()
        last = state.events[-1].message if state.events else ""
        table.add_row(f"[bold]{state.phase.value}", str(state.canary_weight),
                      str(state.failed_checks), f"[dim]now: {last}")
        return table

    def on_pass(self, report: PassReport) -> None:
        state = self.world.state()
        for tick in report.ticks:
            if tick.commit or tick.error:
                subject = tick.subject.split(": ", 1)[-1]
                commit = f"{tick.commit[:7]} {subject}" if tick.commit else f"error: {tick.error}"
                self.rows.append((state.phase.value, str(state.canary_weight),
                                  str(state.failed_checks), commit))
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
        if not self.console.is_terminal:  # rich's Live ends its last frame with a newline
            self.console.line()  # only on a terminal; in a file the next text joined the table


def run_demo(*, keep: bool = False, fast: bool = False) -> int:
    console = Console()
    logging.getLogger().setLevel(logging.WARNING)  # the table tells the story, not the log
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
    _pull_request_act(world, story, console)


def _pull_request_act(world: World, story: Story, console: Console) -> None:
    """Act 3: the same repository in pull-request mode (local forge): each step a merged PR,
    the promotion PR waits for review, its body is printed, Dana approves, it is merged."""
    world.reconfigure("pull-request", lambda _world: PR_CONFIG)
    console.print()
    console.rule("[bold]Act 3: git.mode pull-request (local forge): every change is a PR")
    sha = world.dev.release("6.0.5")
    console.print(f"Dana releases podinfo [green]6.0.5[/] (healthy): commit {sha[:7]}")
    story.act("Act 3: traffic steps merged by gitbot; the promotion PR waits for people",
              {"WaitingPromotion"})
    ref = world.state().pull_request
    forge = world.app.pull_requests.forge if world.app.pull_requests else None
    if ref is None or not isinstance(forge, LocalForge):
        raise GitbotError("the promotion pull request is missing")
    pr = forge.find(ref.branch)
    if pr is None:
        raise GitbotError(f"pull request #{ref.number} has no record")
    console.rule(f"[bold]Pull request #{pr.number} {pr.branch}: {pr.title}")
    print(forge.body(pr))
    console.rule("[bold]gitbot status")
    print(render_table([world.status()]))
    ok, message = approve_promotion(world.app, "test/podinfo")
    print(f"\nDana reviews it and runs `gitbot approve test/podinfo`: {message}")
    if not ok:
        raise GitbotError(message)
    story.act("Act 3: approved: the promotion PR is merged, traffic returns to the primary",
              {"Succeeded"})
    console.rule("[bold]The mainline after act 3: git log --first-parent --oneline -5")
    print("\n".join(world.dev.log_subjects()[:5]))


def _epilogue(world: World, console: Console) -> None:
    console.print()
    console.rule("[bold]The rollout log is the Git history: git log --graph --oneline")
    print(world.dev.log_graph())
    console.rule("[bold]gitbot status")
    print(render_table([world.status()]))
    console.rule("[bold]Events of the last run (Flagger's wording)")
    for event in world.state().events[-10:]:
        print(f"{event.type:8} {event.message}")
    primary = world.dev.read("apps/podinfo/podinfo-primary.yaml")
    image = next((ln.split("image:", 1)[1].strip() for ln in primary.splitlines()
                  if "image:" in ln), "?")
    chats = world.inbox.messages("/slack")
    print(
        f"\npodinfo-primary still runs {image}; gitbot posted {len(chats)} chat messages to "
        "the on-call channel."
    )
