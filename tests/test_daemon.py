"""`gitbot run` as a real process: it initializes the canary on its own schedule, serves
/healthz and /metrics, and exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from slowservers import TricklingServer

from gitbot.daemon import FAILED_TICKS, SHUTDOWN_GRACE_SECONDS
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None


def test_daemon_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    dev = create_gitops_repo(tmp_path, options=CanaryOptions())
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        f"prometheus:\n  url: http://127.0.0.1:{_free_port()}\n  timeout: 1\n"
        f"daemon:\n  listen: 127.0.0.1:{port}\n  passInterval: 1\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitbot", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            reply = _get(f"{base}/healthz")
            return reply is not None and reply.status_code == 200

        _wait(healthy)
        _wait(lambda: any("initialize" in s for s in dev.log_subjects()))
        _wait(lambda: 'phase="Initialized"} 1.0' in (_get(f"{base}/metrics") or _none()).text)
        metrics = requests.get(f"{base}/metrics", timeout=2).text
        assert 'gitbot_commits_total{name="podinfo",namespace="test"} 1.0' in metrics
        assert requests.get(f"{base}/nope", timeout=2).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "finishing the step in progress" in out


class _none:
    text = ""


def _start(tmp_path: Path, options: CanaryOptions, *, frozen: bool = False) -> tuple[
    subprocess.Popen[str], str, Developer
]:
    dev = create_gitops_repo(tmp_path, options=options)
    if frozen:
        _reject_pushes(dev.remote, reject=True)
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        f"prometheus:\n  url: http://127.0.0.1:{_free_port()}\n  timeout: 1\n"
        f"daemon:\n  listen: 127.0.0.1:{port}\n  passInterval: 1\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitbot", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, f"http://127.0.0.1:{port}", dev


def test_sigterm_while_a_webhook_trickles_exits_promptly(tmp_path: Path) -> None:
    with TricklingServer("body") as slow:
        sink = {"name": "sink", "type": "event", "url": f"{slow.url}/events", "timeout": "2s"}
        proc, _, _ = _start(tmp_path, CanaryOptions(webhooks=[sink]))
        try:
            assert slow.started.wait(60), "the event webhook was never called"
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            elapsed = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        calls = len(slow.hits)
    assert proc.returncode == 0, out
    assert "finishing the step in progress" in out
    # the tick in progress finishes, each of its event calls cut at its 2 s deadline, instead
    # of the trickle (2,000 s) holding the daemon until the shutdown grace runs out; how much
    # more than 2 s per call finishing the tick takes depends on the machine's load
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


def test_healthz_turns_503_when_every_canary_keeps_failing(tmp_path: Path) -> None:
    proc, base, dev = _start(tmp_path, CanaryOptions(interval="1s"), frozen=True)
    try:
        def health() -> tuple[int, str]:
            reply = _get(f"{base}/healthz")
            return (reply.status_code, reply.text) if reply is not None else (0, "")

        failing = f"unhealthy: every canary failed its last {FAILED_TICKS} ticks (test/podinfo: "
        _wait(lambda: health()[1].startswith(failing), timeout=60)
        assert health()[0] == 503
        _reject_pushes(dev.remote, reject=False)
        _wait(lambda: health() == (200, "ok\n"), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


def test_healthz_turns_503_while_the_remote_is_gone(tmp_path: Path) -> None:
    proc, base, dev = _start(tmp_path, CanaryOptions())
    moved = dev.remote.with_name("moved.git")
    try:
        def health() -> tuple[int, str]:
            reply = _get(f"{base}/healthz")
            return (reply.status_code, reply.text) if reply is not None else (0, "")

        _wait(lambda: health() == (200, "ok\n"))
        dev.remote.rename(moved)
        _wait(lambda: health()[1].startswith("unhealthy: repository sync failing: "))
        assert health()[0] == 503
        moved.rename(dev.remote)
        _wait(lambda: health() == (200, "ok\n"))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
