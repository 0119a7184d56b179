"""`gitbot run`: the daemon. Schedules each canary at its `analysis.interval` (APScheduler 3),
serves `/metrics` and `/healthz`, and exits 0 on SIGTERM after the step in progress.

Called by the CLI. All Git work runs on ONE worker thread (GitPython is not thread-safe): the
scheduler's executor has a single worker, so ticks never overlap. A rescan job adds, removes or
re-times canary jobs when the repository changes.
"""

from __future__ import annotations

import logging
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gitbot.adapters.specs import load_repository
from gitbot.config import Settings
from gitbot.core.spec import Canary
from gitbot.core.state import Phase
from gitbot.wiring import App, build_app

log = logging.getLogger("gitbot.daemon")


class DaemonMetrics:
    """gitbot's own Prometheus metrics (Flagger-like names under `gitbot_`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.weight = Gauge("gitbot_canary_weight", "Declared canary weight",
                            ["namespace", "name"], registry=self.registry)
        self.status = Gauge("gitbot_canary_status", "1 for the current phase",
                            ["namespace", "name", "phase"], registry=self.registry)
        self.failed = Gauge("gitbot_canary_failed_checks", "Failed checks of the current run",
                            ["namespace", "name"], registry=self.registry)
        self.commits = Counter("gitbot_commits", "Commits gitbot pushed",
                               ["namespace", "name"], registry=self.registry)
        self.errors = Counter("gitbot_tick_errors", "Ticks that ended in an error",
                              ["namespace", "name"], registry=self.registry)
        self.duration = Histogram("gitbot_tick_duration_seconds", "Duration of one tick",
                                  registry=self.registry)


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        self.metrics = DaemonMetrics()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self.intervals: dict[str, int] = {}
        self.healthy = threading.Event()

    def announce_flux_visibility(self) -> None:
        """Say at start-up whether gitbot can see which commit the cluster runs."""
        try:
            applied = self.app.metrics.applied_revisions()
        except Exception as err:  # Prometheus down at start-up is not fatal
            log.warning("cannot ask Prometheus which commit Flux applied yet: %s", err)
            return
        if applied is None:
            log.warning(
                "Prometheus has no gotk_resource_info series (Flux's monitoring): gitbot cannot "
                "see which commit the cluster runs, so it waits one analysis interval after "
                "each of its commits before counting a tick"
            )
        else:
            seen = ", ".join(f"{name} at {sha[:12]}" for name, sha in sorted(applied.items()))
            log.info("Flux's applied revisions are visible: %s", seen)

    def start(self) -> None:
        self.announce_flux_visibility()
        self.scheduler.add_job(self.rescan, "interval", id="rescan",
                               seconds=self.app.settings.daemon.pass_interval)
        self.scheduler.start()
        self.scheduler.add_job(self.rescan, id="rescan-now")

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.app.close()

    def rescan(self) -> None:
        """Sync, then make the job set match the canaries in the repository."""
        try:
            self.app.workspace.sync()
        except Exception as err:  # the daemon outlives a remote outage
            log.error("sync failed: %s", err)
            self.healthy.clear()
            return
        self.healthy.set()
        specs = load_repository(self.app.workspace.root, cluster=self.app.settings.flux.cluster)
        canaries = {c.key: c for c in specs.canaries}
        for key in set(self.intervals) - set(canaries):
            self.scheduler.remove_job(f"canary:{key}")
            del self.intervals[key]
        for key, canary in canaries.items():
            self._schedule(key, canary)

    def _schedule(self, key: str, canary: Canary) -> None:
        seconds = canary.analysis.interval_seconds
        if self.intervals.get(key) == seconds:
            return
        if key in self.intervals:
            self.scheduler.remove_job(f"canary:{key}")
        self.scheduler.add_job(self.tick, "interval", seconds=seconds, id=f"canary:{key}",
                               args=[key])
        self.scheduler.add_job(self.tick, args=[key])
        self.intervals[key] = seconds

    def tick(self, key: str) -> None:
        with self.metrics.duration.time():
            report = self.app.reconciler.run_pass(only=key)
        for tick in report.ticks:
            ns, name = tick.canary.split("/", 1)
            if tick.error:
                self.metrics.errors.labels(ns, name).inc()
            if tick.commit:
                self.metrics.commits.labels(ns, name).inc()
            self._record_state(ns, name)

    def _record_state(self, ns: str, name: str) -> None:
        state = self.app.store.load(f"{ns}/{name}")
        if state is None:
            return
        self.metrics.weight.labels(ns, name).set(state.canary_weight)
        self.metrics.failed.labels(ns, name).set(state.failed_checks)
        for phase in Phase:
            self.metrics.status.labels(ns, name, phase.value).set(phase is state.phase)


def _handler(daemon: Daemon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(daemon.metrics.registry), "text/plain")
            elif self.path == "/healthz":
                ok = daemon.healthy.is_set()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"sync failing\n",
                            "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def run_daemon(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    daemon = Daemon(build_app(settings))
    host, _, port = settings.daemon.listen.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), _handler(daemon))
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the step in progress", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    log.info("gitbot running; /metrics and /healthz on %s", settings.daemon.listen)
    stop.wait()
    daemon.stop()
    server.shutdown()
    server.server_close()
    return 0
