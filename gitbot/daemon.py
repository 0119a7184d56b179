"""`gitbot run`: the daemon. Ticks each canary at its `analysis.interval`, serves `/metrics`
and `/healthz`, and exits 0 on SIGTERM after the step in progress.

Called by the CLI. All Git work runs on ONE worker thread (GitPython is not thread-safe): the
scheduler's executor (APScheduler 3) has a single worker, so ticks never overlap, and a slow
endpoint delays the other canaries by at most the deadline of its calls (every outbound call is
bounded, see `gitbot.adapters.http`). One cycle job every `CYCLE_SECONDS` asks the schedule
(`gitbot.scheduler`, canaries staggered inside their interval) which canaries are due and,
after the lease check, gives them all their tick in one pass: one sync and one read of the
repository however many are due. A rescan job updates the schedule when the repository's
canaries or intervals change.

The endpoints are served by `gitbot.daemon_http`. `/healthz` answers 503 with the reason (see
`Health`) while the repository cannot be synced or read, or when every canary's last
`FAILED_TICKS` ticks failed; one failing canary alone is its own problem, not the daemon's. On
SIGTERM/SIGINT (`gitbot.stopsignal`: noticed whichever thread the kernel hands the signal to) no
new job starts, the step in progress finishes, the lease is released and the process exits 0;
if that is still running after `SHUTDOWN_GRACE_SECONDS` (under Kubernetes' default 30 s grace
period) the process exits 1 at once — the rollout resumes from its state in Git on the next
start, as after a crash. `daemon.listen` with port 0 binds a free port; the "gitbot running"
line names the real one.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gitbot.adapters.redact import redact
from gitbot.config import Settings
from gitbot.core.state import Phase
from gitbot.daemon_http import serve
from gitbot.lease import register_leader_gauge
from gitbot.metrics import FlaggerRecorder
from gitbot.reconciler import PassReport
from gitbot.scheduler import CanarySchedule
from gitbot.stopsignal import StopSignals
from gitbot.wiring import App, build_app

log = logging.getLogger("gitbot.daemon")

FAILED_TICKS = 3  # consecutive failed ticks of EVERY canary that make the daemon unhealthy
SHUTDOWN_GRACE_SECONDS = 25.0
CYCLE_SECONDS = 1.0  # how often the schedule is asked which canaries are due


class Health:
    """Why `/healthz` fails, from the outcome of every job (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync_problem = "repository not synced yet"
        self._failures: dict[str, int] = {}
        self._errors: dict[str, str] = {}

    def synced(self, problem: str = "") -> None:
        with self._lock:
            self._sync_problem = problem

    def canaries(self, keys: set[str]) -> None:
        with self._lock:
            for key in set(self._failures) - keys:
                del self._failures[key]
                self._errors.pop(key, None)
            for key in keys:
                self._failures.setdefault(key, 0)

    def ticked(self, key: str, error: str) -> None:
        with self._lock:
            if key not in self._failures:
                return
            self._failures[key] = self._failures[key] + 1 if error else 0
            self._errors[key] = error

    def problem(self) -> str:
        """The reason the daemon is unhealthy (secrets masked), or "" when it is healthy."""
        with self._lock:
            if self._sync_problem:
                return redact(self._sync_problem)
            if not self._failures or min(self._failures.values()) < FAILED_TICKS:
                return ""
            last = "; ".join(f"{k}: {self._errors[k][:200]}" for k in sorted(self._errors))
        return redact(f"every canary failed its last {FAILED_TICKS} ticks ({last})")


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
        self.flagger = FlaggerRecorder(self.metrics.registry)
        app.reconciler.observer.metric_listeners.append(self.flagger.on_metrics)
        # a slow webhook holds the pass this long at most; its canary gets it at its next tick
        app.reconciler.observer.hooks.settle_s = app.settings.webhooks.pass_wait
        if app.lease is not None:
            register_leader_gauge(self.metrics.registry, app.lease)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self.schedule = CanarySchedule()
        self.health = Health()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._busy = 0
        self._idle = threading.Event()
        self._idle.set()
        self.ready = threading.Event()  # /readyz: set once the first pass has completed

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
            seen = ", ".join(f"{name} at {sha[:12] or 'an artifact digest'}"
                             for name, sha in sorted(applied.items()))
            log.info("Flux's applied revisions are visible: %s", seen)

    def start(self) -> None:
        self.announce_flux_visibility()
        self.scheduler.add_job(self.rescan, "interval", id="rescan",
                               seconds=self.app.settings.daemon.pass_interval)
        self.scheduler.add_job(self.cycle, "interval", id="cycle", seconds=CYCLE_SECONDS)
        self.scheduler.start()
        lease = self.app.lease
        if lease is not None and lease.enabled:  # one active instance (gitbot.lease)
            self.scheduler.add_job(self.keep_lease, "interval", id="lease",
                                   seconds=lease.duration / 3)
            self.scheduler.add_job(self.keep_lease, id="lease-now")
        self.scheduler.add_job(self.rescan, id="rescan-now")

    def shutdown(self, grace_s: float = SHUTDOWN_GRACE_SECONDS) -> bool:
        """Start nothing new; within `grace_s` in all, wait for the job in progress, then hand
        the lease back and close. True if all of it ended in time (a Git call of the release
        can take its own timeout, longer than the pod's grace period: not waited past it)."""
        deadline = time.monotonic() + grace_s
        with self._lock:
            self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if not self._idle.wait(grace_s):
            return False
        closing = threading.Thread(target=self._release_and_close, name="shutdown",
                                   daemon=True)  # the worker is idle: Git is free to use
        closing.start()
        closing.join(max(0.0, deadline - time.monotonic()))
        return not closing.is_alive()

    def _release_and_close(self) -> None:
        if self.app.lease is not None:
            self.app.lease.keep_released()
        self.app.close()

    def keep_lease(self) -> None:
        """Renew (or try to take) the lease; a job like the others, so shutdown waits for it."""
        if self.app.lease is None or not self._begin():
            return
        try:
            self.app.lease.keep()
        finally:
            self._end()

    def _begin(self) -> bool:
        """Count a job as running, unless the daemon is stopping (then the job does nothing)."""
        with self._lock:
            if self.stopping.is_set():
                return False
            self._busy += 1
            self._idle.clear()
            return True

    def _end(self) -> None:
        with self._lock:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    def rescan(self) -> None:
        """Sync, then make the job set match the canaries in the repository."""
        if not self._begin():
            return
        try:
            self._rescan()
        finally:
            self._end()

    def _rescan(self) -> None:
        step = "repository sync"
        try:
            self.app.reconciler.sync()  # a fetch; the picture is re-read by diff
            step = "reading the repository"
            canaries = {c.key: c for c in self.app.reconciler.repo.specs().canaries}
        except Exception as err:  # the daemon outlives a remote outage or an unreadable tree
            log.error("%s failed: %s", step, err, exc_info=log.isEnabledFor(logging.DEBUG))
            if step == "repository sync":
                self.flagger.git_errors.inc()
            self.health.synced(f"{step} failing: {err}")
            return
        self.health.synced()
        self.health.canaries(set(canaries))
        self.flagger.set_canaries(canaries.values())
        self.schedule.update({k: c.analysis.interval_seconds for k, c in canaries.items()})
        self.ready.set()

    def cycle(self) -> None:
        """Give every due canary its tick, all in one pass (after the lease check)."""
        if not self._begin():
            return
        try:
            due = self.schedule.due()
            if due and self._may_act(due):
                self._tick(due)
            elif due:
                self.schedule.ticked(due)  # passive: asked again at their next slot
        finally:
            self._end()

    def tick(self, key: str) -> None:
        """One canary's tick now (outside its schedule)."""
        if not self._begin():  # the lease check uses Git too: shutdown must wait for it
            return
        try:
            if self._may_act([key]):
                self._tick([key])
        finally:
            self._end()

    def _may_act(self, keys: list[str]) -> bool:
        lease = self.app.lease
        if lease is None or lease.may_act():
            return True
        if lease.error:  # not passive but failing: a lease that cannot be written
            for key in keys:  # is unhealthy
                self.health.ticked(key, f"lease: {lease.error}")
        return False  # passive: another instance holds the lease

    def _tick(self, keys: list[str]) -> None:
        try:
            with self.metrics.duration.time():
                report = self.app.reconciler.run_pass(only=keys)
        except Exception as err:  # a pass that cannot run is a failed tick of each canary
            log.error("%s: tick failed: %s", ", ".join(keys[:5]), err,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            for key in keys:
                self.health.ticked(key, str(err) or type(err).__name__)
            return
        finally:
            self.schedule.ticked(keys)  # a failed tick too: retried at its next slot
        self.app.store.refresh(fetched=True)  # one read of the state branch for every gauge
        try:
            self._record_ticks(report)
        finally:
            self.app.store.release()

    def _record_ticks(self, report: PassReport) -> None:
        for tick in report.ticks:
            ns, name = tick.canary.split("/", 1)
            self.flagger.observe_duration(tick.canary, tick.seconds)
            self.health.ticked(tick.canary, tick.error)
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
        self.flagger.record_state(f"{ns}/{name}", state)


def run_daemon(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    signals = StopSignals().install()  # first: a SIGTERM during start-up is not lost
    try:
        return _run(settings, signals)
    finally:
        signals.close()


def _run(settings: Settings, signals: StopSignals) -> int:
    daemon = Daemon(build_app(settings))
    server = serve(daemon, settings.daemon.listen)
    if not signals.received:
        daemon.start()
        bound, real_port = server.server_address[:2]
        log.info("gitbot running; /metrics and /healthz on %s:%s", bound, real_port)
    signum = signals.wait()
    log.info("signal %d: finishing the step in progress", signum)
    finished = daemon.shutdown(SHUTDOWN_GRACE_SECONDS)
    server.shutdown()
    server.server_close()
    if not finished:
        log.warning("the step in progress (or the lease's release) is still running after %gs; "
                    "exiting now (the rollout resumes from its state in Git on the next start)",
                    SHUTDOWN_GRACE_SECONDS)
        logging.shutdown()
        os._exit(1)  # the worker thread cannot be interrupted; do not wait for it
    return 0
