"""A Prometheus-compatible HTTP server for the scale benchmark (bench/scale.py).

Answers `GET /api/v1/query` on 127.0.0.1 the way a healthy cluster would: every Deployment ready
(kube-state-metrics series, 2 replicas), request success rate 100, request duration 10 ms, and
Flux's `gotk_resource_info` says the remote's current head is applied. It counts the queries.
Queries that select many targets at once (label matchers `=~"a|b"`) get one series per target,
labelled like the real exporters, so batched queries are answered as Prometheus would.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

_MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')
_READINESS = ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_updated",
              "kube_deployment_status_replicas_available")


class FakePrometheus:
    """`with FakePrometheus(remote) as prom:` ... `prom.url`, `prom.queries`."""

    def __init__(self, remote: Path, branch: str = "main",
                 workloads: set[tuple[str, str]] | None = None) -> None:
        self.remote, self.branch = remote, branch
        self.workloads = workloads  # (namespace, name) that exist; None: whatever is asked
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
                with outer._lock:
                    outer.queries[query] += 1
                body = json.dumps({"status": "success", "data": {
                    "resultType": "vector", "result": outer.answer(query)}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def total(self) -> int:
        with self._lock:
            return sum(self.queries.values())

    def answer(self, query: str) -> list[dict[str, Any]]:
        if "gotk_resource_info" in query:
            revision = f"{self.branch}@sha1:{self._head()}"
            return [_sample({"__name__": "gotk_resource_info", "name": "flux-system",
                             "customresource_kind": "Kustomization", "revision": revision}, 1)]
        labels = _matchers(query)
        if "kube_deployment" in query:
            return [_sample({"__name__": series, "namespace": ns, "deployment": name}, 2)
                    for ns, name in self._exist(labels, "namespace", "deployment")
                    for series in _READINESS]
        if "istio_request" in query:
            value = 10.0 if "histogram_quantile" in query else 100.0
            return [_sample({"destination_workload_namespace": ns, "destination_workload": w},
                            value)
                    for ns, w in self._exist(labels, "destination_workload_namespace",
                                             "destination_workload")]
        if "http_requests_total" in query:  # scale.py's MetricTemplate
            return [_sample({"namespace": ns, "app": w}, 100.0)
                    for ns, w in self._exist(labels, "namespace", "app")]
        return [_sample({}, 1)]

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
        for line in (self.remote / "packed-refs").read_text().splitlines():
            if line.endswith(f" refs/heads/{self.branch}"):
                return line.split()[0]
        return ""

    def __enter__(self) -> FakePrometheus:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _matchers(query: str) -> dict[str, list[str]]:
    """Label name -> the values a query selects (`=` one, `=~"a|b"` each alternative)."""
    found: dict[str, list[str]] = {}
    for name, op, value in _MATCHER.findall(query):
        if name in found or value.endswith("*") or value.startswith("5"):
            continue
        found[name] = value.split("|") if op == "=~" else [value]
    return found


def _sample(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"metric": labels, "value": [0, f"{value:g}"]}
