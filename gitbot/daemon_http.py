"""The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz` and `/leader`.

Called by `gitbot.daemon.run_daemon`, which passes its `Daemon`; served on a thread of their own
(the Git worker is never involved: every answer is read from memory). `daemon.listen` with port
0 binds any free port; `server_address` then holds the real one.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import generate_latest

if TYPE_CHECKING:
    from gitbot.daemon import Daemon


def serve(daemon: Daemon, listen: str) -> ThreadingHTTPServer:
    """Bind `listen` (HOST:PORT) and serve the endpoints on a daemon thread."""
    host, _, port = listen.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), _handler(daemon))
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def _handler(daemon: Daemon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(daemon.metrics.registry), "text/plain")
            elif self.path == "/leader" and daemon.app.lease is not None:
                body = json.dumps(daemon.app.lease.describe()).encode() + b"\n"
                self._reply(200, body, "application/json")
            elif self.path == "/healthz":
                problem = daemon.health.problem()
                text = f"unhealthy: {problem}\n" if problem else "ok\n"
                self._reply(503 if problem else 200, text.encode(), "text/plain; charset=utf-8")
            elif self.path == "/readyz":
                ready = daemon.ready.is_set()
                lines = ["ready" if ready else "first pass not completed"]
                if daemon.app.lease is not None and daemon.app.lease.enabled:
                    who = daemon.app.lease.describe()
                    lines.append(f"leader: {who['holder'] or 'none'}"
                                 f"{' (this instance)' if who['leading'] else ''}")
                self._reply(200 if ready else 503, ("\n".join(lines) + "\n").encode(),
                            "text/plain; charset=utf-8")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
