"""The queries of the last pass are asked again while the next pass fetches (`prom_prefetch`).

The reconciler over a real bare remote and the loopback Prometheus stand-in (`PromStub`): the
second of two idle passes has its queries on their way before its `git fetch` runs, and asks
none twice. `BatchedMetrics` on its own: only queries with exactly the same text are taken,
per set of canaries; one the pass does not ask is dropped and not asked ahead again; a pass of
many queries is not repeated ahead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scaleworld import initialized, stepping_repo

from gitbot.adapters.git_runner import Result, Runner
from gitbot.adapters.prom_batch import BatchedMetrics
from gitbot.adapters.prom_prefetch import Prefetcher
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.sim.promstub import PromStub
from gitbot.wiring import App

CANARIES = 3
WAIT = 30.0  # seconds: only ever reached when the queries were not asked ahead


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[App, PromStub]]:
    dev = stepping_repo(tmp_path, CANARIES)
    with PromStub(dev.remote) as prom, initialized(tmp_path, dev, prom.url) as (app, _clock):
        yield app, prom


def test_a_pass_asks_the_last_passes_queries_while_it_fetches_and_none_twice(
    world: tuple[App, PromStub], monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, prom = world
    metrics = app.reconciler.observer.metrics
    assert isinstance(metrics, BatchedMetrics)
    before = prom.total()
    first = app.reconciler.run_pass()  # idle: the applied revision and readiness
    asked = prom.total() - before
    assert asked == 2 and not any(t.error for t in first.ticks)
    original = Runner.run
    seen_before_fetch: list[bool] = []

    def fetch_after_the_queries(self: Runner, *args: str, **kwargs: object) -> Result:
        if args and args[0] == "fetch":  # the queries are out before git fetches
            seen_before_fetch.append(prom.wait_total(before + 2 * asked, WAIT))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Runner, "run", fetch_after_the_queries)
    launched = metrics.prefetched
    second = app.reconciler.run_pass()
    assert seen_before_fetch == [True]
    assert metrics.prefetched - launched == asked
    assert prom.total() - before == 2 * asked  # taken, not asked again
    assert [(t.canary, t.phase, t.error) for t in second.ticks] == [
        (t.canary, t.phase, t.error) for t in first.ticks]


def _pass(metrics: BatchedMetrics, only: set[str] | None, *queries: str) -> list[object]:
    metrics.prefetch(only)
    metrics.begin_pass(())
    try:
        return [metrics.query_series(q) for q in queries]
    finally:
        metrics.end_pass()


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[tuple[BatchedMetrics, PromStub]]:
    with PromStub(tmp_path) as prom, BatchedMetrics(prom.url) as batched:
        yield batched, prom


def test_only_the_same_text_for_the_same_canaries_is_taken(
    metrics: tuple[BatchedMetrics, PromStub],
) -> None:
    batched, prom = metrics
    one, two = 'vector(1)', 'kube_deployment_spec_replicas{namespace="a",deployment="b"}'
    first = _pass(batched, None, one, two)
    assert batched.prefetched == 0  # nothing known yet
    again = _pass(batched, None, one, two)
    assert batched.prefetched == 2 and prom.total() == 4
    assert _values(again) == _values(first)  # the same answers as asking
    with PrometheusMetrics(prom.url) as plain:
        assert _values([plain.query_series(one), plain.query_series(two)]) == _values(first)
    _pass(batched, {"team/app"}, one)  # other canaries: nothing known for them
    assert batched.prefetched == 2
    _pass(batched, None, one)  # `two` asked ahead but not asked: dropped...
    assert batched.prefetched == 4
    _pass(batched, None, one)  # ...and not asked ahead again (only `one` was)
    assert batched.prefetched == 5
    batched.close()  # (a dropped query may still be on its way: the count is final now)
    assert prom.queries[two] <= 4  # 3 asked, and perhaps the dropped one


def test_a_pass_of_many_queries_is_not_repeated_ahead(
    metrics: tuple[BatchedMetrics, PromStub],
) -> None:
    batched, _prom = metrics
    many = [f"vector({n})" for n in range(Prefetcher.MOST + 1)]
    _pass(batched, None, *many)
    _pass(batched, None, *many)
    assert batched.prefetched == 0
    _pass(batched, None, *many[:Prefetcher.MOST])
    _pass(batched, None, *many[:Prefetcher.MOST])
    assert batched.prefetched == Prefetcher.MOST


def _values(answers: list[object]) -> list[object]:
    """The answers without their sample times."""
    return [[(s["metric"], s["value"][1]) for s in a] if isinstance(a, list) else a
            for a in answers]
