"""Issue 8 through Git: hostile files pushed to the repository cost only themselves.

A real bare remote holds the podinfo canary plus symlinks (to /dev/zero, out of the working
copy, dangling), a 5,000-deep nesting and a billion-laughs ConfigMap. `reconcile --once` still
initializes podinfo and reports each bad file once on stderr; `validate` prints the same lines
and exits 2. Prometheus is a closed port (initialization does not need it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cliconfig import write_config

from gitbot.cli import cli
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

BOMB = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [lol]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
    for i in range(9))
PROBLEMS = [
    "apps/bad/bomb.yaml:12: document: refused: expands to 2111111 nodes and 3000000 characters "
    "through aliases, over gitbot's limit of 1000000 nodes and 33554432 characters per document "
    "(a YAML bomb?)",
    "apps/bad/dangling.yaml:1: document: dangling symlink (to nowhere.yaml)",
    "apps/bad/deep.yaml:2: document: refused: nested deeper than 100 levels (gitbot's limit)",
    "apps/bad/out.yaml:1: document: symlink to ../../../outside/token.yaml, outside the "
    "repository",
    "apps/bad/zero.yaml:1: document: symlink to /dev/zero, outside the repository",
]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    dev = create_gitops_repo(tmp_path, options=CanaryOptions())
    bad = dev.clone / "apps" / "bad"
    bad.mkdir()
    (bad / "zero.yaml").symlink_to("/dev/zero")
    (bad / "out.yaml").symlink_to("../../../outside/token.yaml")  # from the working copy
    (bad / "dangling.yaml").symlink_to("nowhere.yaml")
    (bad / "deep.yaml").write_text("items:\n" + "- " * 5000 + "x\n", encoding="utf-8")
    (bad / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    _git(dev.clone, "add", "-A")
    _git(dev.clone, "commit", "-q", "-m", "Hostile files")
    _git(dev.clone, "push", "-q", "origin", "HEAD:main")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "token.yaml").write_text("token: hunter2\n", encoding="utf-8")
    return write_config(tmp_path, str(dev.remote))


@pytest.mark.timeout(120)
def test_reconcile_initializes_the_good_canary_and_reports_each_bad_file(config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"],
                                catch_exceptions=False)
    assert result.stdout.startswith("test/podinfo: Initialized — committed "), result.output
    reported = [line.removeprefix("warning: invalid: ") for line in result.stderr.splitlines()
                if line.startswith("warning: invalid: ")]
    assert sorted(reported) == PROBLEMS
    assert (config.parent / "work" / "apps" / "bad" / "out.yaml").is_symlink()
    assert sorted(p.name for p in (config.parent / "outside").iterdir()) == ["token.yaml"]

    result = CliRunner().invoke(cli, ["--config", str(config), "validate"],
                                catch_exceptions=False)
    assert (result.exit_code, result.stdout.splitlines()) == (2, PROBLEMS)


@pytest.mark.timeout(120)
def test_the_daemon_logs_each_bad_file_once_until_it_changes(
    config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gitbot.config import load_settings
    from gitbot.wiring import build_app

    app = build_app(load_settings(config))
    try:
        for _ in range(3):  # the daemon's jobs run a pass per canary tick
            app.reconciler.run_pass()
        clone = config.parent / "developer"  # a person pushes another bad link
        _git(clone, "pull", "-q", "--rebase", "origin", "main")
        (clone / "apps" / "bad" / "zero.yaml").unlink()
        (clone / "apps" / "bad" / "zero.yaml").symlink_to("/dev/null")
        _git(clone, "commit", "-q", "-am", "Another bad link")
        _git(clone, "push", "-q", "origin", "HEAD:main")
        app.reconciler.run_pass()
    finally:
        app.close()
    logged = [r.getMessage().removeprefix("invalid: ") for r in caplog.records
              if r.name == "gitbot.reconciler" and r.getMessage().startswith("invalid: ")]
    assert logged == [*PROBLEMS, PROBLEMS[-1].replace("/dev/zero", "/dev/null")]
