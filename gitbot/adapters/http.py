"""Outbound HTTP with a total deadline per call, a body size limit and same-origin redirects only.

Prometheus (`prometheus.py`), webhooks (`webhooks.py`) and chat (`notifiers.py`) call
`bounded_request` on a session from `bounded_session()`. requests' own `timeout` bounds each socket
operation, not the call: a server answering one byte at a time keeps it alive for ever. Here a
watchdog timer shuts the call's socket down when the deadline passes, so the status line, the
headers and the body together take at most `deadline_s` (plus the time to notice, milliseconds);
connect and send use the remaining time as their socket timeout. Name resolution (getaddrinfo) is
the one step not covered.

Redirects: followed by hand, at most `MAX_REDIRECTS`, only when scheme, host and port stay the
same (an `Authorization` header or a secret path must never travel to another host); 307/308 keep
the method and body, 301/302/303 turn a POST into a body-less GET, as Go's client (Flagger) does.
A redirect to another origin is an `HttpError` of kind "redirect" and the target is never called.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_REDIRECTS = 3
DEFAULT_MAX_BODY = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 16384


class HttpError(Exception):
    """A call that did not produce an answer; `kind` is timeout, connect, tls, redirect,
    too-large, url or request. The message never contains the URL's path, query or userinfo."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class HttpReply:
    """A complete answer: status, headers, body (at most the size limit)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Watch:
    """The deadline of one call: shuts down every socket the call reads from when it passes."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.deadline = time.monotonic() + deadline_s
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline_s, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def timeout_error(self) -> HttpError:
        return HttpError("timeout", f"timeout after {self.deadline_s:g}s")


def _shut(sock: socket.socket) -> None:
    """Wake a blocked read: EOF for the reader (the plain socket method, also for TLS sockets)."""
    with suppress(OSError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()


@contextmanager
def deadline(deadline_s: float) -> Iterator[_Watch]:
    """Bound every request this thread makes through a `BoundedAdapter` inside the block.

    For clients that build their own requests (PyGithub for the GitHub forge): mount
    `BoundedAdapter()` on their session and wrap each call; when `watch.expired` is true after
    the client raised, the cause was the deadline.
    """
    watch, outer = _Watch(deadline_s), getattr(_current, "watch", None)
    _current.watch = watch
    watch._timer.start()
    try:
        yield watch
    finally:
        watch._timer.cancel()
        _current.watch = outer


def _register(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self) -> Any:
        _register(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> Any:
        _register(self.sock)
        return super().getresponse()


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedTLSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedPool, "https": _WatchedTLSPool}


class BoundedAdapter(HTTPAdapter):
    """requests' adapter whose connections report their socket to the call's watchdog."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def bounded_session() -> requests.Session:
    """A session for `bounded_request` (no retries; the caller decides whether to retry)."""
    session = requests.Session()
    adapter = BoundedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    deadline_s: float,
    max_body: int = DEFAULT_MAX_BODY,
    truncate: bool = False,
    **kwargs: Any,
) -> HttpReply:
    """One call, redirects included, answered completely within `deadline_s` or `HttpError`.

    `kwargs` go to `session.request` (params, data, json, headers, auth, verify, proxies).
    A body over `max_body` bytes is an error of kind "too-large", or cut off when `truncate`.
    """
    with deadline(deadline_s) as watch:
        for _ in range(MAX_REDIRECTS + 1):
            remaining = watch.remaining()
            if remaining <= 0:
                raise watch.timeout_error()
            try:
                reply, location = _one_hop(
                    session, method, url, watch, max_body, truncate, kwargs, remaining
                )
            except HttpError:
                raise
            except Exception as exc:
                raise _classify(exc, watch) from None
            if location is None:
                assert reply is not None
                return reply
            method, url, kwargs = _follow(method, url, location, reply, kwargs)
    raise HttpError("redirect", f"more than {MAX_REDIRECTS} redirects")


def _one_hop(
    session: requests.Session,
    method: str,
    url: str,
    watch: _Watch,
    max_body: int,
    truncate: bool,
    kwargs: Mapping[str, Any],
    remaining: float,
) -> tuple[HttpReply, str | None]:
    response = session.request(
        method, url, stream=True, allow_redirects=False, timeout=(remaining, remaining), **kwargs
    )
    with response:
        location = response.headers.get("Location")
        if response.status_code in _REDIRECTS and location:
            return HttpReply(response.status_code, b""), location
        body, cut = _read_body(response, watch, max_body, truncate)
        return HttpReply(response.status_code, body, dict(response.headers), cut), None


def _read_body(
    response: requests.Response, watch: _Watch, max_body: int, truncate: bool
) -> tuple[bytes, bool]:
    declared = response.headers.get("Content-Length", "")
    if not truncate and declared.isdigit() and int(declared) > max_body:  # refused unread
        raise HttpError("too-large", f"answer larger than {max_body} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=_CHUNK):
        if watch.expired:
            raise watch.timeout_error()
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            if truncate:
                return b"".join(chunks)[:max_body], True
            raise HttpError("too-large", f"answer larger than {max_body} bytes")
    if watch.expired:  # the watchdog's EOF can look like the end of a body without a length
        raise watch.timeout_error()
    return b"".join(chunks), False


def _follow(
    method: str, url: str, location: str, reply: HttpReply, kwargs: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    target = urljoin(url, location)
    if origin(target) != origin(url):
        raise HttpError("redirect", f"refused redirect to another host ({origin(target)})")
    if reply.status in (301, 302, 303) and method.upper() not in ("GET", "HEAD"):
        body_free = {k: v for k, v in kwargs.items() if k not in ("data", "json")}
        return "GET", target, body_free
    return method, target, kwargs


def origin(url: str) -> str:
    """scheme://host:port of a URL (default port filled in): what a redirect may not change."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        port = 0
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def _classify(exc: BaseException, watch: _Watch) -> HttpError:
    """A transport exception as an `HttpError` whose message carries no URL."""
    if watch.expired or isinstance(exc, requests.Timeout):
        return watch.timeout_error()
    if isinstance(exc, requests.exceptions.SSLError):
        return HttpError("tls", "TLS error")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return HttpError("url", "invalid URL")
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return HttpError("url", "unsupported URL scheme")
    if isinstance(exc, requests.ConnectionError):
        return HttpError("connect", _connect_cause(str(exc)))
    if isinstance(exc, http.client.HTTPException | urllib3.exceptions.ProtocolError):
        return HttpError("request", f"invalid answer: {type(exc).__name__}")
    return HttpError("request", f"request failed: {type(exc).__name__}")


_CAUSES = ("Connection refused", "Name or service not known", "No route to host",
           "Connection reset", "Network is unreachable", "RemoteDisconnected")


def _connect_cause(text: str) -> str:
    cause = next((c for c in _CAUSES if c in text), "")
    if cause == "RemoteDisconnected":
        return "connection closed without an answer"
    return cause.lower() or "connection failed"
