"""The `gitbot` command line (CONTRACT.md): builds objects and calls them, holds no logic.

Exit statuses: 0 success; 2 invalid input (bad config, invalid specs, nothing to approve);
1 when gitbot itself could not run (remote unreachable, Prometheus launcher missing, ...).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from gitbot.config import Settings, config_path, load_settings
from gitbot.errors import GitbotError, InvalidInputError
from gitbot.status import canary_statuses, render_table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", metavar="PATH", default=None,
              help="Config file (default ./config.yaml, or $GITBOT_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int) -> None:
    """gitbot: progressive delivery where Git is the only writer to the cluster."""
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"config": config}


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(config_path(ctx.obj["config"]))
    except InvalidInputError as err:
        click.echo(str(err), err=True)
        sys.exit(2)


@cli.command()
@click.option("--path", "path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Validate this local directory instead of the configured repo.")
@click.pass_context
def validate(ctx: click.Context, path: Path | None) -> None:
    """Check the config and every Canary, MetricTemplate and AlertProvider in the repository."""
    from gitbot.adapters.specs import format_problems, load_repository

    if path is None:
        from gitbot.wiring import build_app

        app = build_app(_settings(ctx))
        try:
            app.workspace.sync()
            specs = load_repository(
                app.workspace.root,
                no_cross_namespace_refs=app.settings.security.no_cross_namespace_refs,
                cluster=app.settings.flux.cluster)
        finally:
            app.close()
    else:
        specs = load_repository(path)
    if specs.problems:
        click.echo(format_problems(specs.problems))
        sys.exit(2)
    click.echo(
        f"valid: {len(specs.canaries)} Canary, {len(specs.templates)} MetricTemplate, "
        f"{len(specs.providers)} AlertProvider"
    )


@cli.command()
@click.option("--once", is_flag=True, required=True, help="Run one pass and exit.")
@click.argument("name", required=False)
@click.pass_context
def reconcile(ctx: click.Context, once: bool, name: str | None) -> None:
    """One reconcile pass: sync the repository, give every canary one analysis tick."""
    from gitbot.wiring import build_app

    app = build_app(_settings(ctx))
    try:
        report = app.reconciler.run_pass(only=name)
    except GitbotError as err:
        click.echo(f"gitbot: {err}", err=True)
        sys.exit(1)
    finally:
        app.close()
    for problem in report.specs.problems:
        click.echo(f"invalid: {problem}", err=True)
    for tick in report.ticks:
        line = f"{tick.canary}: {tick.phase}"
        if tick.commit:
            line += f" — committed {tick.commit[:12]} {tick.subject}"
        if tick.error:
            line += f" — error: {tick.error}"
        click.echo(line)


@cli.command()
@click.argument("name", required=False)
@click.option("--output", "-o", type=click.Choice(["json", "table"]), default="table")
@click.pass_context
def status(ctx: click.Context, name: str | None, output: str) -> None:
    """Show the status of every canary (or one: NAME or NAMESPACE/NAME)."""
    from gitbot.wiring import build_app

    app = build_app(_settings(ctx))
    try:
        statuses = canary_statuses(app, name)
    except GitbotError as err:
        click.echo(f"gitbot: {err}", err=True)
        sys.exit(1)
    finally:
        app.close()
    if output == "json":
        click.echo(json.dumps({"canaries": statuses}, indent=2))
    else:
        click.echo(render_table(statuses))


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """The daemon: every canary at its analysis.interval; /metrics and /healthz."""
    from gitbot.daemon import run_daemon

    sys.exit(run_daemon(_settings(ctx)))


@cli.command()
@click.argument("key", metavar="NAMESPACE/NAME")
@click.pass_context
def approve(ctx: click.Context, key: str) -> None:
    """Approve the promotion that NAMESPACE/NAME waits for (phase WaitingPromotion)."""
    from gitbot.approval import approve_promotion

    if "/" not in key:
        click.echo("gitbot: approve takes NAMESPACE/NAME, e.g. test/podinfo", err=True)
        sys.exit(2)
    from gitbot.wiring import build_app

    app = build_app(_settings(ctx))
    try:
        ok, message = approve_promotion(app, key)
    except GitbotError as err:
        click.echo(f"gitbot: {err}", err=True)
        sys.exit(1)
    finally:
        app.close()
    click.echo(message, err=not ok)
    sys.exit(0 if ok else 2)


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the demo's repository and print where it is.")
@click.option("--fast", is_flag=True, help="Shorter intervals (used by the tests).")
def demo(keep: bool, fast: bool) -> None:
    """The self-contained demonstration: a healthy release, then a broken one."""
    from gitbot.demo import run_demo

    sys.exit(run_demo(keep=keep, fast=fast))


def main() -> None:
    cli(prog_name="gitbot")
