"""Pull-request mode at the command line: `reconcile --once` lands through a merged PR, `reject`
exits 2 when nothing waits, and `status` shows the open PR in the JSON (CONTRACT.md's shape) and
as a PULLREQUEST column in the table."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from click.testing import CliRunner

from gitbot.cli import cli
from gitbot.core.state import Phase, PullRequestRef, RolloutState
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo
from gitbot.status import render_table, status_object

REF = PullRequestRef("gitbot/test/podinfo/8-promote", "a" * 40, "promote", 8, number=12,
                     url="https://github.com/acme/gitops/pull/12")


def _config(tmp_path: Path, url: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "config.yaml"
    path.write_text(
        f"git:\n  url: {url}\n  branch: main\n  mode: pull-request\n"
        f"  workdir: {tmp_path / 'work'}\nprometheus:\n  url: http://127.0.0.1:{port}\n"
        "  timeout: 1\nforge:\n  type: local\n", encoding="utf-8")
    return str(path)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_initialize_lands_through_a_merged_pull_request(tmp_path: Path) -> None:
    remote = create_gitops_repo(tmp_path, options=CanaryOptions()).remote
    config = _config(tmp_path, str(remote))
    code, out, err = _run("--config", config, "reconcile", "--once")
    assert code == 0, err
    assert out.startswith("test/podinfo: Initialized — committed ")
    assert "(#1)" in out
    log = subprocess.run(["git", "log", "-1", "--format=%P%n%B", "main"], cwd=remote,
                         capture_output=True, text=True, check=True).stdout
    assert len(log.splitlines()[0].split()) == 2  # a merge commit (mergeMethod: merge)
    assert "Gitbot-Action: initialize" in log and "Gitbot-Step: 1" in log
    code, out, _ = _run("--config", config, "status", "--output", "json")
    assert json.loads(out)["canaries"][0]["pullRequest"] is None
    code, _, err = _run("--config", config, "reject", "test/podinfo")
    assert code == 2 and "nothing waits for a decision: test/podinfo is Initialized" in err
    code, _, err = _run("--config", config, "reject", "podinfo")
    assert code == 2 and "NAMESPACE/NAME" in err


def test_status_shows_the_open_pull_request() -> None:
    state = RolloutState(phase=Phase.WAITING_PROMOTION, pull_request=REF)
    status = status_object("podinfo", "test", state)
    assert status["pullRequest"] == {"number": 12, "url": "https://github.com/acme/gitops/pull/12",
                                     "action": "promote", "state": "open"}
    assert status_object("podinfo", "test", RolloutState())["pullRequest"] is None
    header, row = render_table([status]).splitlines()
    assert header.split()[-1] == "PULLREQUEST"
    assert row.split()[-3:] == ["#12", "promote", "https://github.com/acme/gitops/pull/12"]
    plain = render_table([status_object("podinfo", "test", RolloutState())])
    assert "PULLREQUEST" not in plain


def test_a_pull_request_being_proposed_is_not_shown_yet() -> None:
    proposing = PullRequestRef("gitbot/test/podinfo/3-advance", "b" * 40, "advance", 3)
    state = RolloutState(phase=Phase.PROGRESSING, pull_request=proposing)
    assert status_object("podinfo", "test", state)["pullRequest"] is None
