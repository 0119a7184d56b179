"""`gitbot run` as a real process for the daemon tests: its output in a log file (never an
undrained pipe, which would block the daemon's logging once full), its HTTP port read from its
"gitbot running" line. The configs say `listen: 127.0.0.1:0`: no port is picked in advance, so
tests running in parallel cannot race for the same one.

Used by test_daemon.py, test_daemon_signals.py, test_lease_processes.py and
test_manifests_deploy.py. Waits poll the log or a condition until it holds, with a timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LISTEN_ANY = "127.0.0.1:0"
_RUNNING = re.compile(r"gitbot running; /metrics and /healthz on 127\.0\.0\.1:(\d+)")


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[str]
    log: Path
    _port: int = field(default=0, repr=False)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def messages(self) -> list[str]:
        """The log's messages (the daemon logs JSON lines off a terminal)."""
        return [json.loads(line)["message"] for line in self.text().splitlines()
                if line.startswith("{")]

    def port(self, timeout: float = 120.0) -> int:
        """The port the daemon bound, from its log, once it is running."""
        if self._port:
            return self._port
        found: list[int] = []

        def running() -> bool:
            match = _RUNNING.search(self.text())
            if match:
                found.append(int(match[1]))
            assert match or self.proc.poll() is None, f"gitbot run exited:\n{self.text()[-3000:]}"
            return bool(match)

        wait_for("the daemon's 'gitbot running' line", running, timeout)
        self._port = found[0]
        return self._port

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port()}{path}"

    def threads(self) -> list[int]:
        """The ids of the process's threads other than the main one, oldest first."""
        tids = sorted(int(t) for t in os.listdir(f"/proc/{self.proc.pid}/task"))
        return [t for t in tids if t != self.proc.pid]

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; SIGKILL when it does not exit (never leave a daemon behind)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def spawn(config: Path, log: Path, env: dict[str, str] | None = None) -> DaemonProcess:
    """`python -m gitbot --config CONFIG run`, its stdout and stderr into `log`."""
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitbot", "--config", str(config), "run"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env,
        )
    return DaemonProcess(proc, log)
