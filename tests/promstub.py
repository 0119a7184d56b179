"""A stand-in Prometheus HTTP API on 127.0.0.1 for fast rollout tests without the simulator.

`/api/v1/query` answers as a healthy cluster would: Flux (`gotk_resource_info`) has applied the
remote branch's current head (read from the bare repository on every query), every Deployment
is ready, the canary's success rate is 99.9 % and its latency 50 ms, one series per workload
the query selects (labelled as kube-state-metrics and Istio do, so batched queries work).
Real HTTP, real JSON, so gitbot's Prometheus adapter runs unchanged; used by
tests/test_drift_rollouts.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

READINESS = ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_updated",
             "kube_deployment_status_replicas_available")


def remote_head(bare: Path, branch: str = "main") -> str:
    return subprocess.run(["git", "rev-parse", f"refs/heads/{branch}"], cwd=bare, check=True,
                          capture_output=True, text=True).stdout.strip()


class PromStub:
    """Context manager: serves until exit. `url` is the base URL to configure."""

    def __init__(self, bare: Path) -> None:
        self.bare = bare
        self.queries: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> PromStub:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, query: str) -> list[dict[str, Any]]:
        self.queries.append(query)
        now = time.time()
        if "gotk_resource_info" in query:
            revision = f"main@sha1:{remote_head(self.bare)}"
            return [_sample({"name": "apps", "revision": revision}, 1, now)]
        labels = _matchers(query)  # one series per selected workload, labelled like exporters
        if "kube_deployment" in query:
            return [_sample({"__name__": name, "namespace": ns, "deployment": d}, 2, now)
                    for ns in labels.get("namespace", [""])
                    for d in labels.get("deployment", [""]) for name in READINESS]
        value = 50 if "histogram_quantile" in query else 99.9 if "istio_requests_total" in \
            query else None
        if value is not None:
            return [_sample({"destination_workload_namespace": ns, "destination_workload": w},
                            value, now)
                    for ns in labels.get("destination_workload_namespace", [""])
                    for w in labels.get("destination_workload", [""])]
        return [_sample({}, 1, now)]


_MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')


def _matchers(query: str) -> dict[str, list[str]]:
    """label -> the values a query selects (`=` one, `=~"a|b"` several; patterns skipped)."""
    found: dict[str, list[str]] = {}
    for name, op, value in _MATCHER.findall(query):
        if name in found or value.endswith("*") or value.startswith("5"):
            continue
        found[name] = value.split("|") if op == "=~" else [value]
    return found


def _sample(labels: dict[str, str], value: float, now: float) -> dict[str, Any]:
    return {"metric": labels, "value": [now, str(value)]}


def _handler(stub: PromStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(parse_qs(urlparse(self.path).query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._reply(parse_qs(self.rfile.read(length).decode()))

        def _reply(self, params: dict[str, list[str]]) -> None:
            query = (params.get("query") or [""])[0]
            body = json.dumps({"status": "success", "data": {
                "resultType": "vector", "result": stub.answer(query)}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
