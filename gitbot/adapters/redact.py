"""Keep secrets out of log output at every verbosity: a registry of secret values, a log filter.

Adapters register what they know to be secret the moment they learn it: `notifiers.ChatNotifier`
its webhook address (from an AlertProvider's secretRef, or the global chat's addressEnv /
addressFile) and token, `prometheus.PrometheusMetrics` its bearer token and password, `webhooks`
the query string and password of hook URLs. `register_url` stores a URL's path, query and
password as well as the whole URL, because urllib3's DEBUG lines print only the request path
(`"POST /services/T0/B0/XXXX HTTP/1.1" 200`), which for Slack or Discord is the secret.

The CLI's logging setup calls `install_log_redaction()`, which puts `RedactingFilter` on the root
logger's handlers; it rewrites every record (message, formatted traceback, stack) with
`redact()`: registered values become `***`, and in any URL a `user:password@` part and the value
of a credential-like query parameter (`token`, `access_token`, `sig`, `key`, ...) are masked.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]+@")
_QUERY_CREDENTIAL = re.compile(
    r"(?P<key>[?&;](?:[a-z0-9_.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|apikey|sig|signature"
    r"|auth|credential|code|key))=)[^&#\s'\"]+",
    re.IGNORECASE,
)


def register_secret(value: str) -> None:
    """Mask `value` (and its URL-encoded and -decoded forms) in every later log line."""
    global _ordered
    candidates = {value, unquote(value), quote(value), quote(value, safe="")}
    fresh = {v for v in candidates if len(v) >= _MIN_LENGTH} - _secrets
    if not fresh:
        return
    with _lock:
        _secrets.update(fresh)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def register_url(url: str, *, path_is_secret: bool = True) -> None:
    """Mask a secret URL: the whole URL, its password, its query and (default) its path."""
    if not url:
        return
    register_secret(url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    if password:
        register_secret(password)
    if parts.query:
        register_secret(parts.query)
    if path_is_secret and len(parts.path.strip("/")) >= _MIN_LENGTH:
        register_secret(parts.path.rstrip("/"))
        if parts.query:
            register_secret(f"{parts.path}?{parts.query}")


def redact(text: str) -> str:
    """`text` with every registered secret, URL password and query credential masked."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY_CREDENTIAL.sub(lambda m: f"{m['key']}{MASK}", text)
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_secrets() -> None:
    """Empty the registry (tests start from a clean one)."""
    global _ordered
    with _lock:
        _secrets.clear()
        _ordered = ()


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record through `redact()` (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add `RedactingFilter` to every handler of `logger` (the root logger by default), once."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
