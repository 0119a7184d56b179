"""SIGTERM reaches the daemon whichever of its threads the kernel hands it to, and its shutdown
stays inside the pod's grace period even when Git hangs.

Linux gives a signal sent to a process to any of its threads that does not block it: the main
thread when it can take it at once, another one otherwise. `os.kill(tid, SIGTERM)` with the id
of one of the daemon's other threads is still a signal to the whole process, but the kernel then
hands it to that thread — the case that, left to chance, made the lease takeover test's follower
ignore SIGTERM until it was killed (its main thread waited on an Event without a timeout, and
CPython runs Python signal handlers on the main thread only). Real `gitbot run` processes, real
bare remotes, a real hook blocking a push.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from daemonproc import LISTEN_ANY, spawn, wait_for

from gitbot.config import load_settings
from gitbot.daemon import SHUTDOWN_GRACE_SECONDS, Daemon
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.wiring import build_app


def _config(tmp_path: Path, dev: Developer) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
        f"daemon:\n  listen: {LISTEN_ANY}\n  passInterval: 1\n",
        encoding="utf-8",
    )
    return config


def test_sigterm_handed_to_another_thread_than_the_main_one_stops_the_daemon(
    tmp_path: Path,
) -> None:
    dev = create_gitops_repo(tmp_path, options=CanaryOptions(interval="1s"))
    daemon = spawn(_config(tmp_path, dev), tmp_path / "daemon.log")
    try:
        daemon.port()
        wait_for("the first tick", lambda: "Initialization done" in daemon.text())
        others = daemon.threads()  # the HTTP server's, the scheduler's, the Git worker's...
        assert others, "the daemon runs its jobs on threads of their own"
        os.kill(others[0], signal.SIGTERM)  # the oldest: alive as long as the process
        signalled = time.monotonic()
        code = daemon.proc.wait(timeout=SHUTDOWN_GRACE_SECONDS + 5)
        elapsed = time.monotonic() - signalled
    finally:
        daemon.kill()
    assert code == 0, daemon.text()[-3000:]
    assert "signal 15: finishing the step in progress" in daemon.messages()
    assert elapsed < SHUTDOWN_GRACE_SECONDS, (elapsed, daemon.text()[-3000:])


_WAITER = """
import logging, signal, threading
from gitbot.stopsignal import StopSignals

logging.basicConfig()
signals = StopSignals().install()
held, done = threading.Event(), threading.Event()

def write_a_log_line():  # a thread in the middle of a log line holds the handler's lock
    with logging.getLogger().handlers[0].lock:
        held.set()
        done.wait()

other = threading.Thread(target=done.wait)
writer = threading.Thread(target=write_a_log_line)
other.start()
writer.start()
held.wait()
print("before:", signals.wait(timeout=0.1), flush=True)
signal.pthread_kill(other.ident, signal.SIGTERM)
print("after:", signals.wait(timeout=30), flush=True)
done.set()
signals.close()
"""


def test_the_main_thread_wakes_for_a_signal_taken_by_another_thread_while_logging_is_busy(
) -> None:
    """The handler neither logs nor takes a lock: with the logging handler's lock held by a
    thread that will not let go until the main thread woke up, the signal still gets through."""
    done = subprocess.run([sys.executable, "-c", _WAITER], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["before: 0", f"after: {int(signal.SIGTERM)}"]


def test_shutdown_gives_up_on_a_lease_release_stuck_in_git_within_the_grace(
    tmp_path: Path,
) -> None:
    """Git's own timeout (60 s a command) is longer than the pod's grace period: a push that
    hangs must not hold the exit past `grace_s` (the lease then expires on its own)."""
    dev = create_gitops_repo(tmp_path, options=CanaryOptions())
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n", encoding="utf-8")
    daemon = Daemon(build_app(load_settings(config)))
    daemon.keep_lease()
    assert daemon.app.lease is not None and daemon.app.lease.leading()
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    hook = dev.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho reached > {tmp_path / 'reached'}\nread line < {gate}\n",
                    encoding="utf-8")
    hook.chmod(0o755)
    started = time.monotonic()
    assert daemon.shutdown(grace_s=1.0) is False
    assert time.monotonic() - started < 10  # the grace, not git's 60 s
    wait_for("the release's push at the remote", (tmp_path / "reached").exists)
    assert _lease_holder(dev.remote) == daemon.app.lease.identity  # not released yet
    with gate.open("w") as opened:  # let the push through: the release then ends
        opened.write("go\n")
    closing = [t for t in threading.enumerate() if t.name == "shutdown"]
    for thread in closing:
        thread.join(60)
    assert closing and not any(t.is_alive() for t in closing)
    assert _lease_holder(dev.remote) == ""


def _lease_holder(remote: Path) -> str:
    text = subprocess.run(["git", "cat-file", "blob", "gitbot/state:lease.json"], cwd=remote,
                          capture_output=True, text=True, check=True).stdout
    return str(json.loads(text)["holder"])
