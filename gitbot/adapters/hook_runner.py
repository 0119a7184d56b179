"""Run the webhook gates of a pass' canaries concurrently, so a slow one holds only its canary.

Owned by `gitbot.observe.Observer` (one per process) and driven by the reconciler's pass:

1. every canary's tick asks `results(...)` for the gate kinds its plan needs; the calls are
   submitted to a small pool of named daemon threads (each kind's hooks in spec order, stopping at
   the first failure as `call_hooks` does) and the tick gets them only when all are done, after
   waiting at most what is left of the pass' grace (`grace_s` in all: fast gates need no second
   tick) — otherwise `None`: the canary is *waiting on its webhooks* (no decision, nothing
   counted);
2. after the pass ticked every canary, `settle(keys)` waits for the calls submitted in this pass
   and yields each waiting canary whose calls all finished, for a second tick that consumes them.
   In the daemon it waits at most `settle_s` (config `webhooks.passWait`: a short bound for the
   whole pass, however many hooks are slow); unfinished calls are kept and the canary's next
   tick consumes them. In one-shot mode (`settle_s=None`, `gitbot reconcile`: nothing carries
   over to another process) it waits for all of them, which were running concurrently: N slow
   hooks cost one deadline, not N. Each call's deadline is its hook's `timeout`, at most
   `max_timeout_s` (config `webhooks.maxTimeout`).

A result is consumed exactly once: taken by the tick that decides, the next tick calls again. It
is kept only for the same phase, checksum, hook list and `run` (the observer passes the run's id,
step, iterations and failed checks); anything else calls afresh.
Not thread-safe: one reconciler thread calls it; the pool threads only run the calls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from gitbot.adapters.webhooks import call_hooks
from gitbot.core.spec import Canary, WebhookType
from gitbot.core.state import HookResult

log = logging.getLogger("gitbot.webhooks")

WORKERS = 8
#: a pass' ticks wait this long, in all, for the calls they just made (a fast gate answers
#: within it: no second tick); past it, a tick that has to wait is settled after the pass
GRACE_SECONDS = 0.25

Results = tuple[HookResult, ...]


@dataclass
class _Entry:
    fingerprint: tuple[object, ...]
    future: Future[Results]
    pass_no: int
    told: bool = field(default=False)


class HookRunner:
    """Gate calls on background threads; results handed to the canary's ticks."""

    def __init__(self, workers: int = WORKERS, settle_s: float | None = None,
                 max_timeout_s: float | None = None, grace_s: float = GRACE_SECONDS) -> None:
        self.settle_s = settle_s  # None: wait for every call (one-shot); the daemon sets a bound
        self.grace_s = grace_s
        self._grace_left = grace_s
        self.max_timeout_s = max_timeout_s  # config webhooks.maxTimeout
        self._entries: dict[tuple[str, WebhookType], _Entry] = {}
        self._pass = 0
        self._jobs: queue.SimpleQueue[tuple[Future[Results], Callable[[], Results]] | None] = \
            queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"gitbot-hook-{i}",
                                          daemon=True) for i in range(max(1, workers))]
        self._started = False
        self._closed = False

    def begin_pass(self) -> None:
        self._pass += 1
        self._grace_left = self.grace_s

    def results(self, canary: Canary, kinds: Iterable[WebhookType], phase: str, checksum: str,
                run: str) -> dict[WebhookType, Results] | None:
        """The finished results of `kinds` for this tick (consumed), or None while any runs."""
        wanted = [k for k in kinds if canary.analysis.hooks(k)]
        entries = {kind: self._submit(canary, kind, phase, checksum, run) for kind in wanted}
        for key in [k for k in self._entries if k[0] == canary.key and k[1] not in entries]:
            del self._entries[key]  # not asked by this tick's plan: stale
        if not self._done(list(entries.values())):
            return None
        for kind in entries:
            del self._entries[(canary.key, kind)]
        return {kind: _outcome(canary, kind, e.future) for kind, e in entries.items()}

    def settle(self, keys: Iterable[str]) -> Iterator[str]:
        """Yield each of `keys` (canaries waiting on their webhooks) once its calls are done,
        waiting for the calls submitted in this pass (all of them in one-shot mode)."""
        waiting = set(keys)
        deadline = None if self.settle_s is None else time.monotonic() + self.settle_s
        while waiting:
            ready = [key for key in sorted(waiting)
                     if all(e.future.done() for e in self._of(key))]
            for key in ready:
                waiting.discard(key)
                yield key  # its second tick consumes the results (or asks again)
            if ready:
                continue
            running = [e.future for key in waiting for e in self._of(key)
                       if deadline is None or e.pass_no == self._pass]
            left = None if deadline is None else deadline - time.monotonic()
            if not running or (left is not None and left <= 0):
                break  # the rest were slow already before this pass, or time is up
            wait(running, timeout=left, return_when=FIRST_COMPLETED)
        for key in sorted(waiting):
            self._tell_waiting(key)

    def shutdown(self) -> None:
        """Cancel queued calls; calls in flight end within their deadline on daemon threads,
        which never hold the process' exit."""
        self._closed = True
        for entry in self._entries.values():
            entry.future.cancel()
        self._entries.clear()
        for _thread in self._threads:
            self._jobs.put(None)

    def _done(self, entries: list[_Entry]) -> bool:
        """All calls done, after waiting what is left of the pass' grace for this pass' calls
        (a call running since an earlier pass is slow: not waited for)."""
        running = [e for e in entries if not e.future.done()]
        if running and self._grace_left > 0 and all(e.pass_no == self._pass for e in running):
            started = time.monotonic()
            wait([e.future for e in running], timeout=self._grace_left)
            self._grace_left -= time.monotonic() - started
        return all(e.future.done() for e in entries)

    def _of(self, key: str) -> list[_Entry]:
        return [e for (k, _kind), e in self._entries.items() if k == key]

    def _submit(self, canary: Canary, kind: WebhookType, phase: str, checksum: str,
                run: str) -> _Entry:
        fingerprint = (phase, checksum, run, canary.analysis.hooks(kind))
        entry = self._entries.get((canary.key, kind))
        if entry is not None and entry.fingerprint == fingerprint and not entry.future.cancelled():
            return entry
        future: Future[Results] = Future()
        stop = kind is not WebhookType.ROLLBACK  # every rollback hook is asked
        self._start()
        if self._closed:
            future.cancel()
        else:
            self._jobs.put((future, lambda: call_hooks(
                canary, kind, phase, checksum, stop_at_first_failure=stop,
                max_timeout_s=self.max_timeout_s)))
        entry = _Entry(fingerprint, future, self._pass)
        self._entries[(canary.key, kind)] = entry
        return entry

    def _start(self) -> None:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, run = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(run())
            except BaseException as err:  # reported by the tick that consumes it
                future.set_exception(err)

    def _tell_waiting(self, key: str) -> None:
        entries = [(kind, e) for (k, kind), e in self._entries.items()
                   if k == key and not e.future.done()]
        if entries and not all(e.told for _kind, e in entries):
            kinds = ", ".join(kind.value for kind, _e in entries)
            log.info("%s: waiting on its webhooks (%s); their result counts at its next tick",
                     key, kinds)
            for _kind, entry in entries:
                entry.told = True


def _outcome(canary: Canary, kind: WebhookType, future: Future[Results]) -> Results:
    """The calls' results; a call that raised (never expected) fails the hook with the cause."""
    if future.cancelled():
        return tuple(HookResult(h.name, kind, False, message="not called: shutting down")
                     for h in canary.analysis.hooks(kind)[:1])
    err = future.exception()
    if err is None:
        return future.result()
    log.warning("%s: %s webhook call failed: %s", canary.key, kind.value, err)
    return tuple(HookResult(h.name, kind, False, message=f"{type(err).__name__}: {err}")
                 for h in canary.analysis.hooks(kind)[:1])
