"""A webhook server on 127.0.0.1 whose answers a test releases by hand (no sleeps).

    with GatedServer() as server:
        gate = server.script("/slow", held(500), 200)  # held until gate.set(), then 500; 200...
        ... the client calls f"{server.url}/slow" ...
        server.arrived("/slow", 1).wait(30)             # the first request is in flight
        gate.set()                                       # now it is answered (500)

Each path answers its script in turn (the last entry repeats): a status, or `held(status)`
(wait for the path's gate, then answer `status`). `hits(path)` counts requests, `received()`
lists every request's (path, JSON body) in the order they arrived. `stop()` releases every gate,
so no handler is left waiting.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def held(status: int = 200) -> str:
    """A script entry: wait for the path's gate, then answer `status`."""
    return f"hold:{status}"


class GatedServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[int | str]] = {}
        self._gates: dict[str, threading.Event] = {}
        self._hits: dict[str, int] = {}
        self._received: list[tuple[str, Any]] = []
        self._arrivals: dict[tuple[str, int], threading.Event] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, path: str, *answers: int | str) -> threading.Event:
        """Answer `path` with `answers` in turn; the returned event releases its `HOLD`s."""
        with self._lock:
            self._scripts[path] = list(answers)
            return self._gates.setdefault(path, threading.Event())

    def arrived(self, path: str, nth: int) -> threading.Event:
        """Set when the `nth` request to `path` has arrived (it may still be held)."""
        with self._lock:
            return self._arrivals.setdefault((path, nth), threading.Event())

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def received(self) -> list[tuple[str, Any]]:
        """(path, JSON body) of every request so far, in the order they arrived."""
        with self._lock:
            return list(self._received)

    def _take(self, path: str, body: bytes) -> tuple[int | str, threading.Event]:
        with self._lock:
            self._received.append((path, json.loads(body) if body else None))
            self._hits[path] = count = self._hits.get(path, 0) + 1
            self._arrivals.setdefault((path, count), threading.Event()).set()
            script = self._scripts.get(path, [200])
            answer = script.pop(0) if len(script) > 1 else script[0]
            return answer, self._gates.setdefault(path, threading.Event())

    def __enter__(self) -> GatedServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        with self._lock:
            gates = list(self._gates.values())
        for gate in gates:
            gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _handler(server: GatedServer) -> Any:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self) -> None:
            sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer, gate = server._take(self.path, sent)
            if isinstance(answer, str):  # held(status)
                gate.wait(60)
                answer = int(answer.partition(":")[2])
            body = f"answer {answer}".encode()
            self.send_response(int(answer))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its deadline)
                self.close_connection = True

        def log_message(self, *_args: Any) -> None:
            return None

    return Handler
