"""`gitbot run` as a real process: it initializes the canary on its own schedule, serves
/healthz and /metrics, and exits 0 on SIGTERM. Each daemon listens on port 0 and logs the port
it bound, which the test reads (tests/daemonproc.py)."""

from __future__ import annotations

import time
from pathlib import Path

import requests
from daemonproc import LISTEN_ANY, DaemonProcess, spawn, wait_for
from slowservers import TricklingServer

from gitbot.daemon import FAILED_TICKS, SHUTDOWN_GRACE_SECONDS
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None


def _start(tmp_path: Path, options: CanaryOptions, *, frozen: bool = False) -> tuple[
    DaemonProcess, Developer
]:
    dev = create_gitops_repo(tmp_path, options=options)
    if frozen:
        _reject_pushes(dev.remote, reject=True)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
        f"daemon:\n  listen: {LISTEN_ANY}\n  passInterval: 1\n",
        encoding="utf-8",
    )
    return spawn(config, tmp_path / "daemon.log"), dev


def test_daemon_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    daemon, dev = _start(tmp_path, CanaryOptions())
    try:
        def healthy() -> bool:
            reply = _get(daemon.url("/healthz"))
            return reply is not None and reply.status_code == 200

        def metrics() -> str:
            reply = _get(daemon.url("/metrics"))
            return reply.text if reply is not None else ""

        wait_for("/healthz 200", healthy)
        wait_for("the initialization", lambda: any("initialize" in s for s in dev.log_subjects()))
        wait_for("the Initialized gauge", lambda: 'phase="Initialized"} 1.0' in metrics())
        assert 'gitbot_commits_total{name="podinfo",namespace="test"} 1.0' in metrics()
        assert requests.get(daemon.url("/nope"), timeout=2).status_code == 404
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0, daemon.text()
    assert "signal 15: finishing the step in progress" in daemon.messages()


def test_sigterm_while_a_webhook_trickles_exits_promptly(tmp_path: Path) -> None:
    with TricklingServer("body") as slow:
        sink = {"name": "sink", "type": "event", "url": f"{slow.url}/events", "timeout": "2s"}
        daemon, _ = _start(tmp_path, CanaryOptions(webhooks=[sink]))
        try:
            assert slow.started.wait(60), "the event webhook was never called"
            signalled = time.monotonic()
            code = daemon.stop(timeout=30)
            elapsed = time.monotonic() - signalled
        finally:
            daemon.kill()
        calls = len(slow.hits)
    out = daemon.text()
    assert code == 0, out
    assert "finishing the step in progress" in out
    # event calls run in the background (the tick does not wait for them); on shutdown the
    # queue is drained within its bound (each call cut at its 2 s deadline, the rest abandoned)
    # instead of the trickle (2,000 s) holding the daemon until the shutdown grace runs out
    assert calls >= 1
    assert "still running after" not in out, out
    assert elapsed < SHUTDOWN_GRACE_SECONDS, (elapsed, calls, out)


def _reject_pushes(remote: Path, reject: bool) -> None:
    hook = remote / "hooks" / "pre-receive"
    if reject:
        hook.write_text("#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n", encoding="utf-8")
        hook.chmod(0o755)
    else:
        hook.unlink()


def _health(daemon: DaemonProcess) -> tuple[int, str]:
    reply = _get(daemon.url("/healthz"))
    return (reply.status_code, reply.text) if reply is not None else (0, "")


def test_healthz_turns_503_when_every_canary_keeps_failing(tmp_path: Path) -> None:
    daemon, dev = _start(tmp_path, CanaryOptions(interval="1s"), frozen=True)
    try:
        failing = f"unhealthy: every canary failed its last {FAILED_TICKS} ticks (test/podinfo: "
        wait_for("/healthz failing", lambda: _health(daemon)[1].startswith(failing), timeout=60)
        assert _health(daemon)[0] == 503
        _reject_pushes(dev.remote, reject=False)
        wait_for("/healthz ok", lambda: _health(daemon) == (200, "ok\n"), timeout=60)
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0, daemon.text()


def test_healthz_turns_503_while_the_remote_is_gone(tmp_path: Path) -> None:
    daemon, dev = _start(tmp_path, CanaryOptions())
    moved = dev.remote.with_name("moved.git")
    try:
        wait_for("/healthz ok", lambda: _health(daemon) == (200, "ok\n"))
        dev.remote.rename(moved)
        wait_for("/healthz failing",
                 lambda: _health(daemon)[1].startswith("unhealthy: repository sync failing: "))
        assert _health(daemon)[0] == 503
        moved.rename(dev.remote)
        wait_for("/healthz ok again", lambda: _health(daemon) == (200, "ok\n"))
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0, daemon.text()
