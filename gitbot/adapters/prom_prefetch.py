"""The queries of the last pass, asked again while the next pass fetches the repository.

A pass asks Prometheus a few per-pass queries one after the other (Flux's applied revision,
the readiness of the canaries' Deployments, one batch per builtin metric and interval), each a
round trip, after the `git fetch` that starts it. From one pass to the next over the same
canaries these queries are the same strings. `Prefetcher` remembers, per set of canaries (the
reconciler's `only`, None for all), the distinct queries a pass asked through `query_series`
(when there were at most `MOST`: per-canary queries are left alone), and when the next pass
over that set begins (`launch`, before its fetch) asks them again, concurrently, on a few
worker threads; the pass then takes the answer of a query it asks with exactly that text
(`take`) instead of asking it. A query the pass does not ask is dropped when it ends (one query
wasted: the pass before needed it); a query with other text (the canaries or their metrics
changed) is asked as before. Answers are Prometheus' answers a few milliseconds earlier than
they would have been, nothing else changes: errors, the hang latch, the batches' fallbacks.

Used by `gitbot.adapters.prom_batch.BatchedMetrics`; the reconciler calls `prefetch` through
the observer at the start of `run_pass`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor

from gitbot.adapters.prometheus_answer import Sample

log = logging.getLogger("gitbot.prometheus")

Series = list[Sample] | str
Marker = frozenset[str] | None  # the pass' canaries as the reconciler names them (None: all)


class Prefetcher:
    """See the module docstring; `ask` runs one query (on a worker thread)."""

    MOST = 8  # queries a pass may have asked to be asked again ahead of the next one
    WORKERS = 4
    SETS = 16  # sets of canaries remembered (the daemon's staggered groups)

    def __init__(self, ask: Callable[[str], Series]) -> None:
        self._ask = ask
        self._known: OrderedDict[Marker, tuple[str, ...]] = OrderedDict()
        self._pending: dict[str, Future[Series]] = {}
        self._marker: Marker = None
        self._recording = False
        self._asked: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self.launched = 0  # queries asked ahead so far (tests, the benchmark)

    def launch(self, only: Collection[str] | None) -> None:
        """A pass over `only` begins: ask the queries the last pass over it asked."""
        self._drop()
        self._marker = frozenset(only) if only is not None else None
        self._recording, self._asked = True, []
        for promql in self._known.get(self._marker, ()):
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="gitbot-prom")
            self._pending[promql] = self._pool.submit(self._ask, promql)
            self.launched += 1

    def take(self, promql: str) -> Series | None:
        """The answer asked ahead for exactly `promql` (waiting for it), else None; the
        query is noted for the next pass."""
        if self._recording and promql not in self._asked:
            self._asked.append(promql)
        future = self._pending.pop(promql, None)
        return future.result() if future is not None else None

    def end_pass(self) -> None:
        """The pass ended: remember what it asked, drop what it did not take."""
        if self._recording:
            if len(self._asked) <= self.MOST:
                self._known[self._marker] = tuple(self._asked)
                self._known.move_to_end(self._marker)
            else:
                self._known.pop(self._marker, None)
            while len(self._known) > self.SETS:
                self._known.popitem(last=False)
        self._recording, self._asked = False, []
        self._drop()

    def close(self) -> None:
        """Stop the workers (a query on its way is waited for: at most the query timeout)."""
        self._drop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def _drop(self) -> None:
        for future in self._pending.values():
            future.cancel()  # one already running finishes on its worker; its answer is unused
        self._pending.clear()
