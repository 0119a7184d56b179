"""A real Prometheus scraping a tiny prometheus_client exporter, for tests marked `prometheus`.

    series = SyntheticSeries()
    series.counter("istio_requests", {"response_code": "200", ...}, per_second=10)
    with running_prometheus(series) as (prom, exporter):
        wait_for_query(prom.url, "istio_requests_total")

Counters grow linearly with wall time at the rate you set, so `rate()` and ratios built on
them are exact, whatever the scrape timing. Nothing here sleeps a fixed time: helpers poll.
Without a prometheus binary, `running_prometheus` skips the test with the install hint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gitbot.sim.prometheus import PrometheusNotFound, PrometheusServer

Labels = Mapping[str, str]


@dataclass
class _Linear:
    """A value that grows at `rate` per second from `base` at monotonic time `since`."""

    base: float
    since: float
    rate: float

    def now(self, at: float) -> float:
        return self.base + self.rate * (at - self.since)

    def set_rate(self, rate: float, at: float) -> None:
        self.base, self.since, self.rate = self.now(at), at, rate


class SyntheticSeries(Collector):
    """A collector whose counters grow linearly in time and whose gauges hold set values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], _Linear]] = {}
        self._gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._histograms: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[str, _Linear]]]]
        self._histograms = {}

    def counter(self, name: str, labels: Labels, per_second: float) -> None:
        """Set the growth rate of counter `<name>_total{labels}` (0 freezes it)."""
        at = time.monotonic()
        with self._lock:
            series = self._counters.setdefault(name, {})
            key = _key(labels)
            if key in series:
                series[key].set_rate(per_second, at)
            else:
                series[key] = _Linear(0.0, at, per_second)

    def gauge(self, name: str, labels: Labels, value: float | None) -> None:
        """Set gauge `name{labels}`; None removes the series."""
        with self._lock:
            series = self._gauges.setdefault(name, {})
            if value is None:
                series.pop(_key(labels), None)
            else:
                series[_key(labels)] = value

    def histogram(self, name: str, labels: Labels, buckets: Sequence[tuple[str, float]]) -> None:
        """Histogram `<name>_bucket{labels,le}` whose cumulative buckets grow per second."""
        at = time.monotonic()
        with self._lock:
            self._histograms.setdefault(name, {})[_key(labels)] = [
                (le, _Linear(0.0, at, rate)) for le, rate in buckets
            ]

    def collect(self) -> Iterator[Metric]:
        at = time.monotonic()
        with self._lock:
            yield from self._collect_counters(at)
            yield from self._collect_gauges()
            yield from self._collect_histograms(at)

    def _collect_counters(self, at: float) -> Iterator[Metric]:
        for name, series in self._counters.items():
            family = CounterMetricFamily(name, name, labels=_label_names(series))
            for key, value in series.items():
                family.add_metric([v for _, v in key], value.now(at))
            yield family

    def _collect_gauges(self) -> Iterator[Metric]:
        for name, series in self._gauges.items():
            family = GaugeMetricFamily(name, name, labels=_label_names(series))
            for key, value in series.items():
                family.add_metric([v for _, v in key], value)
            yield family

    def _collect_histograms(self, at: float) -> Iterator[Metric]:
        for name, series in self._histograms.items():
            family = HistogramMetricFamily(name, name, labels=_label_names(series))
            for key, buckets in series.items():
                values = [(le, b.now(at)) for le, b in buckets]
                family.add_metric([v for _, v in key], values, sum_value=0.0)
            yield family


def _key(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _label_names(series: Mapping[tuple[tuple[str, str], ...], Any]) -> list[str]:
    first = next(iter(series), ())
    return [k for k, _ in first]


class Exporter:
    """prometheus_client's HTTP exporter on 127.0.0.1:<free port> for one collector."""

    def __init__(self, *collectors: Collector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            self.registry.register(collector)
        self._server, self._thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def running_prometheus(
    *collectors: Collector, extra_args: Sequence[str] = ()
) -> Iterator[tuple[PrometheusServer, Exporter]]:
    """An exporter for `collectors` plus a Prometheus (with `extra_args` flags) scraping it
    every second."""
    exporter = Exporter(*collectors)
    try:
        try:
            server = PrometheusServer([exporter.target], extra_args=extra_args).start()
        except PrometheusNotFound as exc:
            pytest.skip(str(exc))
        try:
            yield server, exporter
        finally:
            server.stop()
    finally:
        exporter.close()


def wait_for_query(
    url: str, promql: str, timeout: float = 30.0, *, at_least: int = 1
) -> list[dict[str, Any]]:
    """Poll `promql` on `url` until it returns `at_least` series; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        while True:
            with session.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5) as r:
                result: list[dict[str, Any]] = r.json()["data"]["result"]
            if len(result) >= at_least:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"fewer than {at_least} series for {promql!r} after {timeout}s")
            time.sleep(0.2)
