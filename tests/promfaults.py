"""A loopback Prometheus HTTP API whose answers a test can break, query by query.

    with FaultyProm(values, readiness, fault=lambda query, series: ...) as prom:
        BatchedMetrics(prom.url) ...

Every query is recorded (`queries`). By default it answers like a Prometheus holding one series
per known workload: for each (namespace, name) pair the query selects by the labels Istio
(`destination_workload_namespace`, `destination_workload`), kube-state-metrics (`namespace`,
`deployment`) or the test's MetricTemplates (`kubernetes_namespace`, `app`) use, `=` one value
or `=~"a|b"` several, as `sum by` over those labels would. `fault(query, series)` may replace
that answer with a `Reply`: any status and body, or `hang` (no answer until the server stops,
so the client's deadline passes). Used by tests/test_prom_batch_fallback.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Series = list[dict[str, Any]]
PAIRS = (("destination_workload_namespace", "destination_workload"),
         ("namespace", "deployment"), ("kubernetes_namespace", "app"))
READINESS = ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_updated",
             "kube_deployment_status_replicas_available")
_MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"([^"]*)"')


@dataclass(frozen=True)
class Reply:
    """What to send instead of the normal answer."""

    status: int = 200
    body: bytes = b""
    hang: bool = False


Fault = Callable[[str, Series], Reply | None]


def selected(query: str) -> tuple[tuple[str, str], list[tuple[str, str]]]:
    """The label pair a query selects workloads by, and the (namespace, name) it selects."""
    found = {label: value.split("|") for label, _op, value in _MATCHER.findall(query)}
    for pair in PAIRS:
        if pair[0] in found and pair[1] in found:
            return pair, [(ns, n) for ns in found[pair[0]] for n in found[pair[1]]]
    return ("", ""), []


def batched(query: str) -> bool:
    """True for a query that selects more than one workload (the batched form)."""
    return len(selected(query)[1]) > 1


def vector(series: Series) -> bytes:
    return json.dumps({"status": "success",
                       "data": {"resultType": "vector", "result": series}}).encode()


class FaultyProm:
    """Context manager: serves on 127.0.0.1 until exit; `url` is its base URL."""

    def __init__(self, values: Mapping[tuple[str, str], float],
                 readiness: Mapping[tuple[str, str], tuple[int, int, int]],
                 fault: Fault = lambda _query, _series: None) -> None:
        self.values, self.readiness, self.fault = values, readiness, fault
        self.queries: list[str] = []
        self.released = threading.Event()  # hanging answers end when the server stops
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultyProm:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def series(self, query: str) -> Series:
        """The normal answer: one series per selected workload this server knows."""
        (ns_label, name_label), workloads = selected(query)
        now = time.time()
        if ns_label == "namespace":
            return [{"metric": {"__name__": metric, "namespace": ns, "deployment": d},
                     "value": [now, str(count)]}
                    for ns, d in workloads if (ns, d) in self.readiness
                    for metric, count in zip(READINESS, self.readiness[(ns, d)], strict=True)]
        scale = 10.0 if "histogram_quantile" in query else 1.0 if "istio" in query else 0.1
        return [{"metric": {ns_label: ns, name_label: n},
                 "value": [now, str(self.values[(ns, n)] * scale)]}
                for ns, n in workloads if (ns, n) in self.values]


def _handler(prom: FaultyProm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = (parse_qs(urlparse(self.path).query).get("query") or [""])[0]
            prom.queries.append(query)
            series = prom.series(query)
            reply = prom.fault(query, series) or Reply(body=vector(series))
            if reply.hang:
                prom.released.wait()
                return  # the connection closes without an answer
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            try:
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                return  # a client refusing an answer over its size bound hangs up

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
