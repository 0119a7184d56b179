"""The `gitbot` command line (CONTRACT.md): builds objects and calls them, holds no logic.

Exit statuses: 0 success; 2 invalid input (bad config, invalid specs, nothing to approve);
1 when gitbot itself could not run (remote unreachable, Prometheus launcher missing, ...) and,
as kubectl does, for `status NAME` of a canary the repository does not declare;
3 when `reconcile` had a push refused by the remote (protected branch, hook, rights);
4 when `reconcile` did not act because another instance holds the lease. `approve`/`reject`
of a canary the repository does not declare say NotFound (exit 2). As with kubectl, `--config`,
`-v` and `-o` may also follow the command (gitbot.cli_args). Expected
failures are one line on stderr, never a traceback. Quiet by default (warnings and results),
`-v` progress, `-vv` debug; logging is set up by gitbot.logsetup.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from gitbot import logsetup
from gitbot.adapters.redact import install_log_redaction
from gitbot.cli_args import KubectlGroup
from gitbot.config import Settings, config_path, load_settings
from gitbot.errors import GitbotError, InvalidInputError
from gitbot.status import canary_statuses, render_table

if TYPE_CHECKING:
    from gitbot.adapters.specs import SpecSet
    from gitbot.wiring import App

OUTPUT = click.Choice(["json", "table"])
#: What one `reconcile` run gives its queued event webhooks and chat messages before it exits: a
#: run is a whole pass, so its events are delivered (before they went out inside the tick), not
#: cut at the daemon's shutdown bound; each call stays bounded by its own deadline.
ONE_SHOT_DRAIN_SECONDS = 60.0


@click.group(cls=KubectlGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="--config, -v and -o may also follow the command, as with kubectl. "
             "New here? `gitbot demo`, then README.md \"From the demo to a cluster\".")
@click.option("--config", "config", metavar="PATH", default=None,
              help="Config file (default ./config.yaml, or $GITBOT_CONFIG).")
@click.option("-v", "--verbose", count=True, help="-v progress, -vv debug (default: quiet).")
@click.option("-o", "--output", type=OUTPUT, default=None,
              help="Output format of `status` (also accepted after the command).")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int, output: str | None) -> None:
    """gitbot: progressive delivery where Git is the only writer to the cluster."""
    logsetup.setup(verbose, daemon=ctx.invoked_subcommand == "run")
    install_log_redaction()  # secrets (chat URLs, tokens) never reach the log, even with -vv
    ctx.obj = {"config": config, "output": output}


def _settings(ctx: click.Context) -> Settings:
    path = config_path(ctx.obj["config"])
    try:
        settings = load_settings(path)
    except InvalidInputError as err:
        click.echo(str(err), err=True)
        if not ctx.obj["config"] and not os.environ.get("GITBOT_CONFIG") and not path.exists():
            click.echo("gitbot reads ./config.yaml unless --config PATH or $GITBOT_CONFIG names "
                       "another (an example: config.yaml in gitbot's repository)", err=True)
        sys.exit(2)
    git, chat = settings.git, settings.chat
    logsetup.mask_env([git.credentials.token_env if git.credentials else "",
                       chat.address_env if chat else ""])
    return settings


def _fail(err: BaseException, code: int = 1) -> NoReturn:
    """An expected failure: one line on stderr (details with -v in the log), exit `code`."""
    logging.getLogger("gitbot.cli").debug("%s: %s", type(err).__name__, err)
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    click.echo(f"gitbot: {first}", err=True)
    sys.exit(code)


def _app(ctx: click.Context) -> App:
    """The wired objects; a config they reject (e.g. an unset chat address) exits 2."""
    from gitbot.wiring import build_app

    try:
        return build_app(_settings(ctx))
    except InvalidInputError as err:
        _fail(err, 2)
    except GitbotError as err:
        _fail(err, 1)


def _not_found(name: str) -> str:
    return f'Error from server (NotFound): canaries.flagger.app "{name}" not found'


def _decide(ctx: click.Context, key: str, verb: str,
            decide: Callable[[App, str], tuple[bool, str]]) -> NoReturn:
    """`approve`/`reject` KEY: NotFound for a canary the repository does not declare, exit 2
    when nothing waits, 1 when gitbot cannot run."""
    from gitbot.adapters.specs import load_repository

    if "/" not in key:
        click.echo(f"gitbot: {verb} takes NAMESPACE/NAME, e.g. test/podinfo", err=True)
        sys.exit(2)
    app = _app(ctx)
    try:
        app.workspace.sync()
        known = {c.key for c in load_repository(
            app.workspace.root, cluster=app.settings.flux.cluster,
            remote_bases=app.settings.security.remote_bases).canaries}
        ok, message = decide(app, key) if key in known else (False, _not_found(key))
    except GitbotError as err:
        _fail(err)
    finally:
        app.close()
    click.echo(message, err=not ok)
    sys.exit(0 if ok else 2)


@cli.command(short_help="Check the config and every Canary, MetricTemplate, AlertProvider.")
@click.option("--path", "path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Validate this local directory instead of the configured repo.")
@click.option("--cluster", "cluster", metavar="DIR", default=None,
              help="The Flux cluster directory to validate (default: flux.cluster of the config; "
              "with --path: the repository's only cluster).")
@click.pass_context
def validate(ctx: click.Context, path: Path | None, cluster: str | None) -> None:
    """Check the config and every Canary, MetricTemplate and AlertProvider in the repository."""
    from gitbot.adapters.specs import format_problems, load_repository

    if path is None:
        app = _app(ctx)
        try:
            app.workspace.sync()
            specs = load_repository(
                app.workspace.root,
                no_cross_namespace_refs=app.settings.security.no_cross_namespace_refs,
                cluster=cluster or app.settings.flux.cluster,
                remote_bases=app.settings.security.remote_bases)
            notes = _notes(app.workspace.root, specs)
        except (GitbotError, OSError) as err:
            _fail(err)
        finally:
            app.close()
    else:
        specs = load_repository(path, cluster=cluster)
        notes = _notes(path, specs)
    for note in notes:
        click.echo(f"note: {note}")
    if specs.flux is not None:  # which HelmRelease renders each Helm-deployed target
        from gitbot.adapters.helm_specs import describe

        for line in describe(specs.flux.helm):
            click.echo(line)
    if specs.problems:
        click.echo(format_problems(specs.problems))
        sys.exit(2)
    click.echo(
        f"valid: {len(specs.canaries)} Canary, {len(specs.templates)} MetricTemplate, "
        f"{len(specs.providers)} AlertProvider"
    )


def _notes(root: Path, specs: SpecSet) -> list[str]:
    """What `validate` says besides problems: skipped Kustomizations, unapplied Canaries."""
    if specs.flux is None:
        return []
    from gitbot.adapters.flux_unapplied import unapplied_notes

    return specs.flux.notes() + unapplied_notes(root, specs.flux.view)


@cli.command(short_help="One pass: sync, then one analysis tick per canary.")
@click.option("--once", is_flag=True, help="One pass (what reconcile does; kept as an alias).")
@click.argument("name", required=False)
@click.pass_context
def reconcile(ctx: click.Context, once: bool, name: str | None) -> None:
    """One reconcile pass: sync the repository, give every canary one analysis tick."""
    from gitbot.lease import LeaseHeldError, held_for_pass, one_shot_identity

    app = _app(ctx)
    try:
        # one active instance: refuse while another leads (a daemon, or a pass elsewhere)
        with held_for_pass(app.lease, one_shot_identity(str(app.settings.workdir()))):
            report = app.reconciler.run_pass(only=name)
    except LeaseHeldError as err:
        click.echo(f"gitbot: {err}; not acting", err=True)
        sys.exit(4)
    except GitbotError as err:
        click.echo(f"gitbot: {err}", err=True)
        sys.exit(1)
    finally:
        app.close(drain=ONE_SHOT_DRAIN_SECONDS)  # the pass' events and chat, as the daemon sends
    for tick in report.ticks:  # invalid specs: logged once by the reconciler, as warnings
        line = f"{tick.canary}: {tick.phase}"
        if tick.commit:
            line += f" — committed {tick.commit[:12]} {tick.subject}"
        if tick.error:
            line += f" — error: {tick.error}"
        click.echo(line)
    sys.exit(report.exit_status)


@cli.command(short_help="Status of every canary, or of NAME (like kubectl get canaries).")
@click.argument("name", required=False)
@click.option("--output", "-o", type=OUTPUT, default=None, help="json or table (default).")
@click.pass_context
def status(ctx: click.Context, name: str | None, output: str | None) -> None:
    """Show the status of every canary (or one: NAME or NAMESPACE/NAME)."""
    output = output or ctx.obj["output"] or "table"
    app = _app(ctx)
    try:
        statuses = canary_statuses(app, name)
    except GitbotError as err:
        _fail(err)
    finally:
        app.close()
    if name and not statuses:
        click.echo(_not_found(name), err=True)
        sys.exit(1)
    if output == "json":
        click.echo(json.dumps({"canaries": statuses}, indent=2))
    else:
        click.echo(render_table(statuses))


@cli.command(short_help="The daemon: every canary at its interval; /metrics, /healthz.")
@click.pass_context
def run(ctx: click.Context) -> None:
    """The daemon: every canary at its analysis.interval; /metrics and /healthz."""
    from gitbot.daemon import run_daemon

    settings = _settings(ctx)
    try:
        code = run_daemon(settings)
    except InvalidInputError as err:  # a config the wiring rejects (an unset chat address)
        _fail(err, 2)
    except GitbotError as err:
        _fail(err)
    except OSError as err:  # daemon.listen taken, not local, not allowed
        _fail(OSError(f"cannot listen on {settings.daemon.listen} (daemon.listen): "
                      f"{err.strerror or err}"))
    sys.exit(code)


@cli.command(short_help="Approve the promotion NAMESPACE/NAME waits for.")
@click.argument("key", metavar="NAMESPACE/NAME")
@click.pass_context
def approve(ctx: click.Context, key: str) -> None:
    """Approve the promotion that NAMESPACE/NAME waits for (phase WaitingPromotion)."""
    from gitbot.approval import approve_promotion

    _decide(ctx, key, "approve", approve_promotion)


@cli.command(short_help="Refuse the promotion NAMESPACE/NAME waits for (rolls back).")
@click.argument("key", metavar="NAMESPACE/NAME")
@click.pass_context
def reject(ctx: click.Context, key: str) -> None:
    """Refuse the promotion that NAMESPACE/NAME waits for: the run rolls back."""
    from gitbot.approval import reject_promotion

    _decide(ctx, key, "reject", reject_promotion)


@cli.command(short_help="A self-contained demonstration on this machine.")
@click.option("--keep", is_flag=True, help="Keep the demo's repository and print where it is.")
@click.option("--fast", is_flag=True, help="Shorter intervals (used by the tests).")
def demo(keep: bool, fast: bool) -> None:
    """The self-contained demonstration: a healthy release, then a broken one."""
    from gitbot.demo import run_demo

    sys.exit(run_demo(keep=keep, fast=fast))


def main() -> None:
    cli(prog_name="gitbot")
