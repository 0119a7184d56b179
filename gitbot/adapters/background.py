"""An ordered background queue: worker threads handle submitted items one at a time, in order.

Used by `gitbot.adapters.chat_delivery.ChatSender` (chat messages) and
`gitbot.adapters.event_delivery.EventSender` (Flagger `event` and `post-rollout` webhooks), which
`gitbot.notify.Announcer` fills after a tick's commit and state write, so a slow or failing
endpoint never holds a tick. Items are ordered per `who` (the canary): each `who` always goes to
the same one of `lanes` worker threads (started on their first item), so with several lanes a
slow endpoint of one canary does not delay the items of canaries on the other lanes. `submit`
never blocks: the queue is bounded (all lanes together), and when it is full (or the sender is
closed) the item is dropped with one warning.
`flush(timeout)` waits until everything queued was handled; `close(timeout)` (from `App.close`)
accepts nothing more, drains within `timeout`, then sets `abort` (a handler that waits should
wait on it) and abandons the rest with one warning. Every log line starts with `who` (the canary)
and `label` (what is sent: "chat", "event webhook").
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_QUEUED = 200  # items waiting; beyond that new ones are dropped (logged)
DRAIN_SECONDS = 5.0  # what `close` gives the queue (the daemon shuts down within 30 s)


class OrderedSender(Generic[T]):
    """A bounded queue and the one thread that hands its items to `handle(who, item)`."""

    def __init__(
        self,
        handle: Callable[[str, T], None],
        *,
        label: str,
        log: logging.Logger,
        max_queued: int = MAX_QUEUED,
        thread_name: str = "sender",
        noun: str = "message",
        lanes: int = 1,
    ) -> None:
        self.handle = handle
        self.label = label
        self.log = log
        self.max_queued = max_queued
        self.thread_name = thread_name
        self.noun = noun
        self.abort = threading.Event()  # set when `close` gives up: handlers stop waiting
        self._queues: list[queue.SimpleQueue[tuple[str, T] | None]] = [
            queue.SimpleQueue() for _ in range(max(1, lanes))]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._unfinished = 0
        self._closed = False
        self._threads: dict[int, threading.Thread] = {}  # lane -> its worker, once started

    def lane(self, who: str) -> int:
        """The worker that handles `who`'s items (the same one, always)."""
        return zlib.crc32(who.encode()) % len(self._queues)

    def submit(self, who: str, item: T) -> bool:
        """Queue one item; False (logged) when closed or full. Never blocks."""
        with self._lock:
            if self._closed:
                self.log.warning("%s: %s: %s not sent, gitbot is stopping",
                                 who, self.label, self.noun)
                return False
            if self._unfinished >= self.max_queued:
                self.log.warning("%s: %s: %s dropped, %d %ss already wait",
                                 who, self.label, self.noun, self._unfinished, self.noun)
                return False
            lane = self.lane(who)
            self._queues[lane].put((who, item))
            self._unfinished += 1
            if lane not in self._threads:
                name = self.thread_name if len(self._queues) == 1 else f"{self.thread_name}-{lane}"
                thread = threading.Thread(target=self._run, args=(self._queues[lane],),
                                          name=name, daemon=True)
                self._threads[lane] = thread
                thread.start()
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every queued item was handled; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def close(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Accept nothing more, drain within `timeout`, then abandon the rest. True if drained."""
        with self._lock:
            self._closed = True
            threads = dict(self._threads)
            for lane in threads:
                self._queues[lane].put(None)  # the stop mark, after every queued item
        drained = self.flush(timeout)
        if not drained:
            self.abort.set()
            with self._lock:
                left = self._unfinished
            self.log.warning("%s: %d %s(s) not delivered before shutdown",
                             self.label, left, self.noun)
        for thread in threads.values():
            thread.join(timeout=0 if not drained else None)
        return drained

    def _run(self, lane: queue.SimpleQueue[tuple[str, T] | None]) -> None:
        while (item := lane.get()) is not None:
            who, payload = item
            if not self.abort.is_set():
                try:
                    self.handle(who, payload)
                except Exception as err:  # a broken handler must not stop the sender
                    self.log.warning("%s: %s: %s failed: %s: %s", who, self.label, self.noun,
                                     type(err).__name__, err)
            with self._idle:
                self._unfinished -= 1
                self._idle.notify_all()
