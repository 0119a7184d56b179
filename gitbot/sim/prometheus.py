"""Launch a real, throw-away Prometheus that scrapes local exporters every second.

Used by `gitbot demo` and by the tests (`tests/promfixtures.py`). The server listens on
127.0.0.1 on a free port, keeps its TSDB and log in a temporary directory, and is stopped with
SIGTERM (then killed) by `stop()` or on leaving the `with` block.

Prometheus' discovery manager hands new targets to the scrapers in 5 s batches, so the first
sample is queryable about 5 s after start: poll with `wait_for_data`, never sleep.

Prometheus is started on port 0 and the port the kernel gave it is read from its log ("Listening
on" address=127.0.0.1:PORT), so parallel test workers never race for a port picked beforehand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests

from gitbot.errors import GitbotError

BINARY_ENV = "GITBOT_PROMETHEUS_BIN"
_LISTENING = re.compile(r'msg="Listening on" address=127\.0\.0\.1:(\d+)')
_FALLBACK_BINARY = "/usr/bin/prometheus"


class PrometheusNotFound(GitbotError):
    """No `prometheus` binary: the message says how to install one."""


class PrometheusStartError(GitbotError):
    """Prometheus did not become ready; the message carries the last log lines."""


def find_prometheus() -> str:
    """The Prometheus binary: $GITBOT_PROMETHEUS_BIN, then PATH, then /usr/bin/prometheus."""
    override = os.environ.get(BINARY_ENV, "")
    if override:
        if os.access(override, os.X_OK):
            return override
        raise PrometheusNotFound(f"{BINARY_ENV}={override} is not an executable file")
    found = shutil.which("prometheus")
    if found:
        return found
    if os.access(_FALLBACK_BINARY, os.X_OK):
        return _FALLBACK_BINARY
    raise PrometheusNotFound(
        "the prometheus binary was not found on PATH or at /usr/bin/prometheus; install it "
        "with `sudo apt-get install prometheus` (Debian/Ubuntu) or download it from "
        f"https://prometheus.io/download/ and set {BINARY_ENV} to its path"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


Target = str | tuple[str, Mapping[str, str]]


def scrape_config(targets: Sequence[Target], interval: str = "1s") -> str:
    """A prometheus.yml scraping `targets` every `interval`: `host:port`, or (`host:port`,
    labels) whose labels every series of that target carries (one cluster of several, as a
    Thanos or Mimir Prometheus holds them: `cluster="prod-eu"`)."""
    plain = [t for t in targets if isinstance(t, str)]
    groups = [f'      - targets: [{", ".join(json.dumps(t) for t in plain)}]\n'] if plain else []
    for target in targets:
        if not isinstance(target, str):
            address, labels = target
            groups.append(f"      - targets: [{json.dumps(address)}]\n"
                          f"        labels: {json.dumps(dict(labels), sort_keys=True)}\n")
    return (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        f"  scrape_timeout: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: gitbot-sim\n"
        "    static_configs:\n"
        + "".join(groups)
    )


class PrometheusServer:
    """A Prometheus process on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        binary: str | None = None,
        scrape_interval: str = "1s",
        ready_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.targets = tuple(targets)
        self.extra_args = tuple(extra_args)  # more flags, e.g. --query.max-samples=400
        self.binary = binary or find_prometheus()
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self.port = 0
        self._dir: Path | None = None
        self._log: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> PrometheusServer:
        """Write the config, start the process and wait until `/-/ready` answers 200."""
        if self._proc is not None:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="gitbot-prometheus-"))
        config = self._dir / "prometheus.yml"
        config.write_text(scrape_config(self.targets, self.scrape_interval))
        self.port = 0
        self._log = open(self._dir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            self._command(config),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _command(self, config: Path) -> list[str]:
        assert self._dir is not None
        return [
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self._dir / 'data'}",
            "--web.listen-address=127.0.0.1:0",
            "--storage.tsdb.retention.time=1h",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if not self.running:
                    raise PrometheusStartError(f"prometheus exited early:\n{self.log_tail()}")
                self.port = self.port or self._bound_port()
                ready = self.port and _answers(session, f"{self.url}/-/ready")
                if ready and self._is_ours(session):
                    return
                time.sleep(0.05)
        raise PrometheusStartError(
            f"prometheus not ready after {self.ready_timeout:.0f}s:\n{self.log_tail()}"
        )

    def _bound_port(self) -> int:
        """The port Prometheus logged that it listens on, 0 while it has not yet."""
        assert self._dir is not None
        found = _LISTENING.search((self._dir / "prometheus.log").read_text(errors="replace"))
        return int(found.group(1)) if found else 0

    def _is_ours(self, session: requests.Session) -> bool:
        """True when the server on our port is our process (its TSDB path is our directory)."""
        assert self._dir is not None
        try:
            with session.get(f"{self.url}/api/v1/status/flags", timeout=1) as response:
                flags = response.json().get("data", {})
        except (requests.RequestException, ValueError):
            return False
        return bool(flags.get("storage.tsdb.path") == str(self._dir / "data"))

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the Prometheus log."""
        if self._dir is None or not (self._dir / "prometheus.log").exists():
            return ""
        text = (self._dir / "prometheus.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query and return `data.result` (a list for vectors)."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def wait_for_data(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll `promql` until it returns a non-empty result; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no data for {promql!r} after {timeout:.0f}s")
            time.sleep(0.2)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, kill after `timeout`, close the log and remove the temporary directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(session: requests.Session, url: str) -> bool:
    try:
        with session.get(url, timeout=1) as response:
            return response.status_code == 200
    except requests.RequestException:
        return False


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
