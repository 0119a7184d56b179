"""A recording HTTP server on 127.0.0.1 for tests (webhooks, chat, fake APIs).

    with RecordingServer() as server:
        server.reply("/hook", 500, 500, Reply(200, "ok"))   # one reply per request, last repeats
        ... call f"{server.url}/hook" ...
        assert server.requests_to("/hook")[0].json() == {...}

Replies may be delayed (`Reply(delay=2)`) to provoke client timeouts; `stop()` wakes delayed
handlers, so nothing is left running. Any test module may import it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str  # without the query string
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer: status, body (str, bytes or JSON-able), delay in seconds, headers."""

    status: int = 200
    body: Any = b""
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1:<free port> that records every request."""

    def __init__(self, default: Reply | int = 200) -> None:
        self.default = _as_reply(default)
        self.requests: list[Recorded] = []
        self._replies: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply(self, path: str, *replies: Reply | int) -> None:
        """Answer requests to `path` with `replies` in turn; the last one repeats."""
        with self._lock:
            self._replies[path] = [_as_reply(r) for r in replies]

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._replies.get(path)
            if not queue:
                return self.default
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _as_reply(reply: Reply | int) -> Reply:
    return Reply(status=reply) if isinstance(reply, int) else reply


def _handler_for(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: no idle handler threads
        timeout = 5  # a client that connects and sends nothing cannot block stop()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            server._record(
                Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
            )
            reply = server._next_reply(parts.path)
            if reply.delay and server._stopping.wait(reply.delay):
                return
            self._answer(reply)

        def _answer(self, reply: Reply) -> None:
            payload = reply.payload()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler
