"""Misbehaving HTTP servers on 127.0.0.1 for the bounded-I/O tests.

`TricklingServer` answers one byte every `pause` seconds: the body (`part="body"`, headers sent
at once with a Content-Length) or the status line and headers themselves (`part="headers"`).
`stop()` wakes every trickling handler, so nothing is left running. Each request is counted in
`hits` (path list), so a test can prove a redirect target was never called. With `tls=(cert,
key)` it speaks HTTPS (`self_signed()` makes a certificate for 127.0.0.1 with openssl).
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


class TricklingServer:
    def __init__(
        self,
        part: str = "body",
        pause: float = 0.2,
        size: int = 10_000,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.part = part
        self.pause = pause
        self.size = size
        self.hits: list[str] = []
        self.started = threading.Event()  # set when a request arrived
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def trickle(self, wfile: Any, data: bytes) -> None:
        for i in range(len(data)):
            if self._stopping.wait(self.pause):
                return
            wfile.write(data[i : i + 1])
            wfile.flush()

    def __enter__(self) -> TricklingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _handler(server: TricklingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 5

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server.hits.append(self.path)
            server.started.set()
            body = b"x" * server.size
            head = (
                f"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            try:
                if server.part == "headers":
                    server.trickle(self.wfile, head + body)
                else:
                    self.wfile.write(head)
                    self.wfile.flush()
                    server.trickle(self.wfile, body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler
