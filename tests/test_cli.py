"""The command line as CONTRACT.md describes it: exit statuses, output shapes, config errors.

Real bare repositories; Prometheus is pointed at a closed port (initialization, validate,
status and approve must not need it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cliconfig import write_config

from gitbot.cli import cli
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

DATA = Path(__file__).parent / "data"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dev = create_gitops_repo(tmp_path, options=CanaryOptions())
    return dev.remote


def test_validate_accepts_a_seed_directory() -> None:
    code, out, _ = _run("validate", "--path", str(DATA / "seeds" / "seed001-canary"))
    assert code == 0, out
    assert out.startswith("valid: 1 Canary")


def test_validate_rejects_broken_documents_with_exit_2() -> None:
    code, out, _ = _run("validate", "--path", str(DATA / "specs" / "broken"))
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) >= 12
    assert all(line.split(":", 2)[1].isdigit() for line in lines), lines


def test_validate_syncs_the_configured_repository(tmp_path: Path, repo: Path) -> None:
    code, out, _ = _run("--config", str(write_config(tmp_path, str(repo))), "validate")
    assert (code, out.strip()) == (0, "valid: 1 Canary, 0 MetricTemplate, 0 AlertProvider")


def test_config_unknown_key_names_file_line_and_key(tmp_path: Path, repo: Path) -> None:
    config = write_config(tmp_path, str(repo), extra="forge:\n  typ: local\n")
    code, _, err = _run("--config", str(config), "status")
    assert code == 2
    assert f"{config}:9: forge.typ: unknown key" in err


def test_config_rejects_credentials_in_the_url_without_echoing_them(tmp_path: Path) -> None:
    userinfo = "bot:" + "s3cr3t-token"  # built here so no credentialed URL sits in the source
    config = write_config(tmp_path, f"https://{userinfo}@git.example.com/acme/gitops.git")
    code, _, err = _run("--config", str(config), "status")
    assert code == 2
    assert "git.url: must not carry credentials" in err
    assert "s3cr3t-token" not in err


def test_reconcile_unreachable_remote_exits_1(tmp_path: Path) -> None:
    code, _, err = _run("--config", str(write_config(tmp_path, str(tmp_path / "nope.git"))),
                        "reconcile", "--once")
    assert code == 1
    assert err.startswith("gitbot: ")


def test_reconcile_once_initializes_and_status_reports(tmp_path: Path, repo: Path) -> None:
    config = str(write_config(tmp_path, str(repo)))
    code, out, _ = _run("--config", config, "reconcile", "--once")
    assert code == 0, out
    assert out.startswith("test/podinfo: Initialized — committed ")
    log = subprocess.run(["git", "log", "-1", "--format=%B", "main"], cwd=repo,
                         capture_output=True, text=True, check=True).stdout
    assert "Gitbot-Canary: test/podinfo" in log
    assert "Gitbot-Action: initialize" in log

    code, out, _ = _run("--config", config, "status", "--output", "json")
    assert code == 0
    status = json.loads(out)["canaries"][0]
    assert {k: status[k] for k in ("name", "namespace", "phase", "canaryWeight",
                                   "failedChecks", "iterations")} == {
        "name": "podinfo", "namespace": "test", "phase": "Initialized",
        "canaryWeight": 0, "failedChecks": 0, "iterations": 0,
    }
    assert status["lastTransitionTime"].endswith("Z")
    assert status["events"][-1]["message"] == "Initialization done! podinfo.test"

    code, out, _ = _run("--config", config, "status", "podinfo")
    header, row = out.strip().splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "STATUS", "WEIGHT", "FAILEDCHECKS",
                              "LASTTRANSITIONTIME"]
    assert row.split()[:5] == ["test", "podinfo", "Initialized", "0", "0"]

    code, out, _ = _run("--config", config, "reconcile", "--once")
    assert (code, out.strip()) == (0, "test/podinfo: Initialized")


def test_approve_when_nothing_waits_exits_2(tmp_path: Path, repo: Path) -> None:
    config = str(write_config(tmp_path, str(repo)))
    code, _, err = _run("--config", config, "approve", "test/podinfo")
    assert code == 2
    assert "nothing waits for approval" in err


def test_global_chat_gets_a_message_for_every_commit(tmp_path: Path, repo: Path) -> None:
    """A canary without `alerts` is announced on the config's global chat channel."""
    from gitbot.sim.inbox import Inbox

    with Inbox() as inbox:
        extra = "chat:\n  type: slack\n  addressEnv: GITBOT_TEST_CHAT\n  channel: deploys\n"
        config = str(write_config(tmp_path, str(repo), extra=extra))
        env = {"GITBOT_TEST_CHAT": f"{inbox.url}/hook"}
        result = CliRunner(env=env).invoke(cli, ["--config", config, "reconcile", "--once"])
        assert result.exit_code == 0, result.output
        posted = inbox.messages("/hook")
    assert len(posted) == 1
    attachment = posted[0]["attachments"][0]
    assert posted[0]["channel"] == "deploys"
    assert attachment["author_name"] == "podinfo.test"
    assert "New Deployment detected, initialization completed." in attachment["text"]
    assert "podinfo.test: initialize" in attachment["text"]
    assert [f["title"] for f in attachment["fields"]][:2] == ["Target", "Failed checks threshold"]
