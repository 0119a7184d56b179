"""A stand-in Prometheus HTTP API on 127.0.0.1 that answers as a healthy cluster would.

For the benchmarks (bench/scale.py, bench/soak.py, bench/probes.py) and the fast
rollout tests that run gitbot without the simulator (tests/prfast.py, test_drift_rollouts,
test_pass_counts, ...); the product never imports it. `/api/v1/query` (GET, or POST with a
form body) answers: Flux's `gotk_resource_info` says the Kustomization flux-system applied the
remote branch's current head (read from the bare repository's refs on every query, without a
git process), every Deployment is ready (kube-state-metrics series, 2 replicas), the request
success rate is 99.9 % and the latency 50 ms (Istio's series), and bench/scale.py's
MetricTemplate (`http_requests_total`) 100. Queries that select several workloads at once
(label matchers `=~"a|b"`) get one series per workload, labelled like the real exporters, so
batched queries are answered as Prometheus would. Real HTTP and JSON, so gitbot's Prometheus
adapter runs unchanged. It counts the queries it is asked (`queries`, `total()`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

SUCCESS_RATE = 99.9
LATENCY_MS = 50.0
READINESS = ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_updated",
             "kube_deployment_status_replicas_available")
_MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')


class PromStub:
    """`with PromStub(remote) as prom:` ... `prom.url`, `prom.queries`, `prom.total()`.

    `workloads`: the (namespace, name) pairs that exist; a query selecting others gets no
    series for them (None: whatever is asked exists)."""

    def __init__(self, remote: Path, branch: str = "main",
                 workloads: set[tuple[str, str]] | None = None) -> None:
        self.remote, self.branch, self.workloads = remote, branch, workloads
        self.queries: Counter[str] = Counter()  # bounded by distinct queries (long soaks)
        self._lock = threading.Lock()
        self._asked_more = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def total(self) -> int:
        with self._lock:
            return sum(self.queries.values())

    def wait_total(self, total: int, timeout: float) -> bool:
        """Wait until `total` queries were asked in all (False when `timeout` passed first)."""
        with self._asked_more:
            return self._asked_more.wait_for(lambda: sum(self.queries.values()) >= total,
                                             timeout)

    def count(self, part: str) -> int:
        """How many queries containing `part` were asked."""
        with self._lock:
            return sum(n for query, n in self.queries.items() if part in query)

    def answer(self, query: str) -> list[dict[str, Any]]:
        if "gotk_resource_info" in query:
            revision = f"{self.branch}@sha1:{self._head()}"
            return [_sample({"__name__": "gotk_resource_info", "name": "flux-system",
                             "customresource_kind": "Kustomization", "revision": revision}, 1)]
        labels = _matchers(query)
        if "kube_deployment" in query:
            return [_sample({"__name__": series, "namespace": ns, "deployment": name}, 2)
                    for ns, name in self._exist(labels, "namespace", "deployment")
                    for series in READINESS]
        if "istio_request" in query:
            value = LATENCY_MS if "histogram_quantile" in query else SUCCESS_RATE
            return [_sample({"destination_workload_namespace": ns, "destination_workload": w},
                            value)
                    for ns, w in self._exist(labels, "destination_workload_namespace",
                                             "destination_workload")]
        if "http_requests_total" in query:
            return [_sample({"namespace": ns, "app": w}, 100.0)
                    for ns, w in self._exist(labels, "namespace", "app")]
        return [_sample({}, 1)]

    def _asked(self, query: str) -> list[dict[str, Any]]:
        with self._asked_more:
            self.queries[query] += 1
            self._asked_more.notify_all()
        return self.answer(query)

    def _exist(self, labels: dict[str, list[str]], ns_label: str,
               name_label: str) -> list[tuple[str, str]]:
        """The selected (namespace, name) pairs that exist (a real server has no others)."""
        namespaces, names = labels.get(ns_label, [""]), labels.get(name_label, [""])
        if self.workloads is None:
            return [(ns, name) for ns in namespaces for name in names]
        wanted_ns, wanted = set(namespaces), set(names)
        return sorted(p for p in self.workloads if p[0] in wanted_ns and p[1] in wanted)

    def _head(self) -> str:
        ref = self.remote / "refs" / "heads" / self.branch
        if ref.is_file():
            return ref.read_text().strip()
        packed = self.remote / "packed-refs"
        for line in packed.read_text().splitlines() if packed.is_file() else []:
            if line.endswith(f" refs/heads/{self.branch}"):
                return line.split()[0]
        return ""

    def __enter__(self) -> PromStub:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _matchers(query: str) -> dict[str, list[str]]:
    """Label name -> the values a query selects (`=` one, `=~"a|b"` each alternative; regex
    patterns such as `.*` or a status code class are skipped)."""
    found: dict[str, list[str]] = {}
    for name, op, value in _MATCHER.findall(query):
        if name in found or value.endswith("*") or value.startswith("5"):
            continue
        found[name] = value.split("|") if op == "=~" else [value]
    return found


def _sample(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"metric": labels, "value": [time.time(), f"{value:g}"]}


def _handler(stub: PromStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # connections kept alive, as Prometheus' Go server does
        disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms delayed ACK

        def do_GET(self) -> None:
            self._reply(parse_qs(urlsplit(self.path).query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._reply(parse_qs(self.rfile.read(length).decode()))

        def _reply(self, params: dict[str, list[str]]) -> None:
            body = json.dumps({"status": "success", "data": {
                "resultType": "vector",
                "result": stub._asked((params.get("query") or [""])[0])}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
