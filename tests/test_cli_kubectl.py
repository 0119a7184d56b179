"""The CLI behaves like kubectl: NotFound for unknown canaries, `-o` anywhere, `reconcile`
without flags, one line (never a traceback) for an unreachable remote, invalid specs once, quiet
by default, and the daemon's log: JSON lines off a terminal, plain text on one, secrets masked.

Real bare repositories; the real CLI through click's CliRunner, or as a subprocess where the
process's own stderr (logging, tracebacks, a terminal) is what is tested."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cliconfig import closed_port

from gitbot.cli import cli
from gitbot.logsetup import mask
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo

ROOT = Path(__file__).parent.parent
NOT_FOUND = 'Error from server (NotFound): canaries.flagger.app "{}" not found\n'


@pytest.fixture
def dev(tmp_path: Path) -> Developer:
    return create_gitops_repo(tmp_path, options=CanaryOptions())


@pytest.fixture
def config(tmp_path: Path, dev: Developer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: work\n"
        f"prometheus:\n  url: http://127.0.0.1:{closed_port()}\n  timeout: 1\n"
        f"daemon:\n  listen: 127.0.0.1:{closed_port()}\n  passInterval: 1\n", encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _process(config: Path, *args: str, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gitbot", "--config", str(config), *args],
                          capture_output=True, text=True, env=environ, timeout=120)


@pytest.mark.parametrize("output", [[], ["-o", "json"], ["--output", "table"]])
def test_status_of_an_unknown_canary_is_not_found_exit_1(
    config: Path, output: list[str]
) -> None:
    assert _run(config, "reconcile")[0] == 0
    code, out, err = _run(config, "status", "nope", *output)
    assert (code, out, err) == (1, "", NOT_FOUND.format("nope"))
    code, out, err = _run(config, "status", "prod/podinfo", *output)
    assert (code, err) == (1, NOT_FOUND.format("prod/podinfo"))
    assert _run(config, "status", "test/podinfo", *output)[0] == 0


def test_approve_of_an_unknown_canary_says_not_found(config: Path) -> None:
    code, out, err = _run(config, "approve", "test/nope")
    assert (code, out, err) == (2, "", NOT_FOUND.format("test/nope"))
    code, _, err = _run(config, "approve", "test/podinfo")
    assert code == 2
    assert "nothing waits for approval" in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["-o", "json", "status"], id="before-the-command"),
        pytest.param(["--output=json", "status", "podinfo"], id="long-before"),
        pytest.param(["status", "-o", "json"], id="after-the-command"),
        pytest.param(["status", "podinfo", "-o", "json"], id="after-the-name"),
        pytest.param(["status", "-o", "json", "test/podinfo"], id="before-the-name"),
        pytest.param(["-o", "table", "status", "-o", "json"], id="the-command-wins"),
    ],
)
def test_output_is_accepted_in_either_position(config: Path, args: list[str]) -> None:
    assert _run(config, "reconcile")[0] == 0
    code, out, _ = _run(config, *args)
    assert code == 0
    [status] = json.loads(out)["canaries"]
    assert (status["namespace"], status["name"], status["phase"]) == (
        "test", "podinfo", "Initialized")


def test_output_defaults_to_the_table(config: Path) -> None:
    code, out, _ = _run(config, "status")
    assert code == 0
    assert out.split()[:3] == ["NAMESPACE", "NAME", "STATUS"]


def test_reconcile_runs_one_pass_without_flags_and_once_is_an_alias(
    config: Path, dev: Developer
) -> None:
    code, out, _ = _run(config, "reconcile")
    assert code == 0
    assert out.startswith("test/podinfo: Initialized — committed ")
    assert any("initialize" in s for s in dev.log_subjects())
    code, out, _ = _run(config, "reconcile", "--once")
    assert (code, out) == (0, "test/podinfo: Initialized\n")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param("{tmp}/nope.git", "does not exist", id="missing-path"),
        pytest.param("ssh://git@127.0.0.1:{port}/gitops.git", "Connection refused",
                     id="ssh-port-closed"),
    ],
)
def test_validate_with_an_unreachable_remote_is_one_line_exit_1(
    tmp_path: Path, url: str, says: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"git:\n  url: {url.format(tmp=tmp_path, port=closed_port())}\n"
                      "  workdir: work\n", encoding="utf-8")
    done = _process(config, "validate")
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("gitbot: git clone failed") and says in line, line
    assert "Traceback" not in _process(config, "-vv", "validate").stderr


def test_invalid_specs_are_printed_once(config: Path, dev: Developer) -> None:
    broken = (ROOT / "tests/data/specs/broken/bad-interval.yaml").read_text(encoding="utf-8")
    dev.commit_files({"apps/other/canary.yaml": broken.replace("name: podinfo\n  namespace",
                                                               "name: other\n  namespace", 1)},
                     "Add a broken Canary")
    done = _process(config, "reconcile")
    assert done.returncode == 2, done.stderr  # the valid canary ticked; the invalid one exits 2
    problem = "apps/other/canary.yaml:14: Canary test/other: analysis.interval: must be a duration"
    assert [line for line in done.stderr.splitlines() if problem in line] == [
        f"warning: invalid: {problem} such as 30s, 1m or 1h"]
    assert done.stdout.startswith("test/podinfo: Initialized — committed")


@pytest.mark.parametrize(
    ("flags", "shows", "hides"),
    [
        pytest.param([], [], ["info:", "debug:"], id="quiet"),
        pytest.param(["-v"], ["info: cloned "], ["debug:"], id="progress"),
        pytest.param(["-vv"], ["info: cloned ", "debug: "], [], id="debug"),
    ],
)
def test_quiet_by_default_v_progress_vv_debug(
    config: Path, flags: list[str], shows: list[str], hides: list[str]
) -> None:
    done = _process(config, *flags, "reconcile")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("test/podinfo: Initialized — committed")
    for text in shows:
        assert text in done.stderr
    for text in hides:
        assert text not in done.stderr


SECRET = "sup3r-s3cret-value"  # an env value the daemon must never print


def _daemon_config(tmp_path: Path, dev: Developer) -> Path:
    # the remote sits below a directory named like the secret, so log lines carry it
    hidden = tmp_path / SECRET
    hidden.mkdir()
    os.rename(dev.remote, hidden / "gitops.git")
    config = tmp_path / "daemon.yaml"
    config.write_text(
        f"git:\n  url: {hidden / 'gitops.git'}\n  workdir: dwork\n"
        f"prometheus:\n  url: http://127.0.0.1:{closed_port()}\n  timeout: 1\n"
        "daemon:\n  listen: 127.0.0.1:0\n  passInterval: 300\n", encoding="utf-8")
    return config


def _read_until(fd: int, needle: str, timeout: float = 60.0) -> str:
    seen, deadline = b"", time.monotonic() + timeout
    while needle.encode() not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            seen += os.read(fd, 65536)
    return seen.decode(errors="replace")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """The log is what these tests check: the daemon's graceful exit is test_daemon.py's."""
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        if proc.stderr is not None:
            proc.stderr.close()


def test_daemon_logs_json_lines_off_a_terminal_with_secrets_masked(
    tmp_path: Path, dev: Developer
) -> None:
    config = _daemon_config(tmp_path, dev)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GITBOT_SECRET_TEST_HOOK_TOKEN": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "gitbot", "--config", str(config), "run"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert proc.stderr is not None
    try:
        seen = _read_until(proc.stderr.fileno(), "Initialization done")  # the first tick
        proc.send_signal(signal.SIGTERM)
        seen += _read_until(proc.stderr.fileno(), "finishing the step in progress")
    finally:
        _stop(proc)
    text = seen
    events = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert events and all(set(e) >= {"time", "level", "logger", "message"} for e in events)
    messages = [e["message"] for e in events]
    assert any(m.startswith("signal 15: finishing the step in progress") for m in messages)
    assert not [m for m in messages if m.startswith(("Running job", "Job \""))], messages
    assert SECRET not in text
    assert any("/***/gitops.git" in m for m in messages), messages


def test_daemon_logs_plain_text_on_a_terminal(tmp_path: Path, dev: Developer) -> None:
    config = _daemon_config(tmp_path, dev)
    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gitbot", "--config", str(config), "run"],
                            stderr=secondary, stdout=subprocess.DEVNULL, env=env)
    os.close(secondary)
    try:
        seen = _read_until(primary, "Initialization done")
        proc.send_signal(signal.SIGTERM)
        seen += _read_until(primary, "finishing the step in progress")
    finally:
        _stop(proc)
        os.close(primary)
    line = next(ln for ln in seen.splitlines() if "gitbot running" in ln)
    assert " INFO gitbot.daemon: gitbot running; /metrics and /healthz on 127.0.0.1:" in line
    assert not line.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        pytest.param("push to https://bot:" + "tok3n-123@git.example.com/a.git failed",
                     "push to https://***@git.example.com/a.git failed", id="url-userinfo"),
        pytest.param("no userinfo in https://git.example.com/a.git",
                     "no userinfo in https://git.example.com/a.git", id="plain-url"),
        pytest.param(f"header was Bearer {SECRET}", "header was Bearer ***", id="env-value"),
    ],
)
def test_mask(text: str, masked: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITBOT_GIT_TOKEN", SECRET)
    assert mask(text) == masked


def test_reject_of_an_unknown_canary_says_not_found(config: Path) -> None:
    code, out, err = _run(config, "reject", "test/nope")
    assert (code, out, err) == (2, "", NOT_FOUND.format("test/nope"))
    code, _, err = _run(config, "reject", "test/podinfo")
    assert code == 2
    assert "nothing waits for a decision" in err


def test_reject_with_a_config_that_cannot_be_wired_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("git:\n  url: gitops.git\n  workdir: work\n"
                      "chat:\n  type: slack\n  addressEnv: GITBOT_TEST_UNSET_WEBHOOK\n",
                      encoding="utf-8")
    done = _process(config, "reject", "test/podinfo")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("gitbot: ") and "GITBOT_TEST_UNSET_WEBHOOK" in line, line


@pytest.mark.parametrize(
    ("args", "shows"),
    [
        pytest.param(["validate", "--config", "{config}"], "valid: 1 Canary", id="validate"),
        pytest.param(["reconcile", "--config={config}", "-v"], "info: cloned ", id="reconcile-v"),
        pytest.param(["reconcile", "-vv", "--config", "{config}"], "debug: ", id="reconcile-vv"),
        pytest.param(["status", "podinfo", "--config", "{config}", "-o", "json"], '"canaries"',
                     id="status"),
    ],
)
def test_config_and_verbosity_follow_the_command_as_with_kubectl(
    config: Path, args: list[str], shows: str
) -> None:
    elsewhere = config.parent / "elsewhere"  # no config.yaml here: --config must be read
    elsewhere.mkdir()
    environ = {k: v for k, v in os.environ.items() if k != "GITBOT_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "gitbot",
                           *[a.format(config=config) for a in args]], cwd=elsewhere,
                          capture_output=True, text=True, timeout=120,
                          env={**environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert shows in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        pytest.param(["reconcile", "-v"], ["-v", "reconcile"], id="verbose"),
        pytest.param(["-v", "status", "-vv", "x"], ["-v", "-vv", "status", "x"], id="added"),
        pytest.param(["status", "--config", "c.yaml", "-o", "json"],
                     ["--config", "c.yaml", "status", "-o", "json"], id="config"),
        pytest.param(["--config", "a", "validate", "--config=b"],
                     ["--config", "a", "--config=b", "validate"], id="after-wins"),
        pytest.param(["validate", "--path", "-v"], ["validate", "--path", "-v"],
                     id="an-option-value-stays"),
        pytest.param(["reconcile", "--", "-v"], ["reconcile", "--", "-v"], id="after-dashes"),
        pytest.param(["reconcile", "--config"], ["reconcile", "--config"],
                     id="missing-value-left-to-click"),
        pytest.param(["-o", "json", "status"], ["-o", "json", "status"], id="group-options"),
    ],
)
def test_global_options_are_moved_in_front_of_the_command(
    args: list[str], parsed: list[str]
) -> None:
    from gitbot.cli_args import hoist_global_options

    assert hoist_global_options(cli, click.Context(cli), args) == parsed


def test_a_missing_default_config_says_where_gitbot_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITBOT_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "config.yaml: cannot read config: No such file or directory",
        "gitbot reads ./config.yaml unless --config PATH or $GITBOT_CONFIG names another (an "
        "example: config.yaml in gitbot's repository)"]
    named = CliRunner().invoke(cli, ["--config", "other.yaml", "validate"])
    assert named.stderr == "other.yaml: cannot read config: No such file or directory\n"


@pytest.mark.parametrize(("verbose", "shown"), [pytest.param(0, False, id="daemon-default"),
                                                pytest.param(2, True, id="vv")])
def test_a_cycle_skipped_while_a_long_tick_runs_is_not_logged(verbose: int, shown: bool) -> None:
    """The daemon's scheduler (one worker, max_instances=1) skips a cycle while the previous
    one still runs, every second of a long tick: APScheduler warns each time, gitbot hides it."""
    import io

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    from gitbot import logsetup

    stream = io.StringIO()
    logsetup.setup(verbose, daemon=True, stream=stream)
    release, skipped = threading.Event(), threading.Event()
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(max_workers=1)},
                                    job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_listener(lambda _event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    scheduler.add_job(release.wait, "interval", seconds=0.05, id="cycle")
    scheduler.start()
    try:
        assert skipped.wait(30), "APScheduler never skipped the job"
    finally:
        release.set()
        scheduler.shutdown(wait=True)
        logsetup.setup(0)
    assert ("maximum number of running instances reached" in stream.getvalue()) is shown


@pytest.mark.parametrize(
    ("extra", "code", "says"),
    [
        pytest.param("chat:\n  type: slack\n  addressEnv: GITBOT_TEST_UNSET_WEBHOOK\n", 2,
                     "gitbot: chat: no webhook address (is GITBOT_TEST_UNSET_WEBHOOK set?)",
                     id="config-the-wiring-rejects"),
        pytest.param("daemon:\n  listen: 127.0.0.1:{busy}\n", 1,
                     "gitbot: cannot listen on 127.0.0.1:{busy} (daemon.listen): Address already "
                     "in use", id="port-taken"),
    ],
)
def test_run_that_cannot_start_is_one_line(
    tmp_path: Path, dev: Developer, extra: str, code: int, says: str
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        config = tmp_path / "run.yaml"
        config.write_text(f"git:\n  url: {dev.remote}\n  workdir: work\n"
                          "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
                          + extra.format(busy=port), encoding="utf-8")
        done = _process(config, "run")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == says.format(busy=port), done.stderr
