"""Call a canary's Flagger webhooks: gates, tests, rollback signals and event sinks.

`gitbot.adapters.hook_runner` calls `call_hooks` for the gates (confirm-rollout, pre-rollout,
rollout, confirm-traffic-increase, confirm-promotion, rollback);
`gitbot.adapters.event_delivery` calls it for post-rollout and `send_event` for every event, in the
background, after the tick's commit. Flagger's rules: POST JSON
`{"name","namespace","phase","checksum","metadata"}`, pass only when the status is <= 202,
`retries` extra attempts on connection errors and 5xx/429 with a short backoff, the response
body (truncated) in the result. Nothing here raises for a failed hook.

Bounds (gitbot's choice, where Flagger bounds each attempt only): a hook's `timeout` is the
deadline of the whole hook call, retries and backoff included — `retries: 1000` against a failing
server costs at most `timeout`, not 1000 attempts. Each attempt goes through
`gitbot.adapters.http.bounded_request` (whole answer within the remaining time, no redirect to
another host, at most 64 KiB read). Hook URLs come from the repository, so their paths are shown;
a query string or password in them is registered with `gitbot.adapters.redact` and never logged.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from gitbot.adapters.http import HttpError, bounded_request, bounded_session
from gitbot.adapters.redact import register_url
from gitbot.core.spec import Canary, Webhook, WebhookType
from gitbot.core.state import HookResult

BODY_LIMIT = 500
MAX_ANSWER_BYTES = 64 * 1024
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 4.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def hook_payload(
    canary: Canary, phase: str, checksum: str, metadata: Mapping[str, str]
) -> dict[str, Any]:
    """Flagger's `CanaryWebhookPayload` (metadata omitted when empty, as Go's omitempty)."""
    payload: dict[str, Any] = {
        "name": canary.name,
        "namespace": canary.namespace,
        "phase": phase,
        "checksum": checksum,
    }
    if metadata:
        payload["metadata"] = dict(metadata)
    return payload


def event_metadata(hook: Webhook, message: str, event_type: str, now_ms: int) -> dict[str, str]:
    """eventMessage, eventType and timestamp, plus user metadata that cannot override them."""
    metadata = {"eventMessage": message, "eventType": event_type, "timestamp": str(now_ms)}
    for key, value in hook.metadata.items():
        metadata.setdefault(key, value)
    return metadata


def call_hooks(
    canary: Canary,
    kind: WebhookType,
    phase: str,
    checksum: str,
    *,
    stop_at_first_failure: bool = True,
    backoff_s: float = BACKOFF_SECONDS,
    max_timeout_s: float | None = None,
) -> tuple[HookResult, ...]:
    """Call the canary's hooks of one type in spec order; by default stop at the first failure.
    `max_timeout_s` (config `webhooks.maxTimeout`) caps each hook's `timeout`."""
    results: list[HookResult] = []
    with bounded_session() as session:
        for hook in capped(canary.analysis.hooks(kind), max_timeout_s):
            payload = hook_payload(canary, phase, checksum, hook.metadata)
            result = post_hook(session, hook, payload, backoff_s=backoff_s)
            results.append(result)
            if stop_at_first_failure and not result.passed:
                break
    return tuple(results)


def send_event(
    canary: Canary,
    message: str,
    event_type: str,
    phase: str,
    checksum: str,
    now_ms: int,
    *,
    webhooks: Sequence[Webhook] | None = None,
    backoff_s: float = BACKOFF_SECONDS,
    max_timeout_s: float | None = None,
) -> tuple[HookResult, ...]:
    """Send one event to every event hook (the canary's `type: event` hooks by default);
    `max_timeout_s` caps each hook's `timeout` as in `call_hooks`."""
    hooks = canary.analysis.hooks(WebhookType.EVENT) if webhooks is None else tuple(webhooks)
    results: list[HookResult] = []
    with bounded_session() as session:
        for hook in capped(hooks, max_timeout_s):
            metadata = event_metadata(hook, message, event_type, now_ms)
            payload = hook_payload(canary, phase, checksum, metadata)
            results.append(post_hook(session, hook, payload, backoff_s=backoff_s))
    return tuple(results)


def capped(hooks: Sequence[Webhook], max_timeout_s: float | None) -> list[Webhook]:
    """The hooks, each `timeout` at most `max_timeout_s` (config `webhooks.maxTimeout`)."""
    if max_timeout_s is None:
        return list(hooks)
    return [replace(h, timeout_seconds=max_timeout_s) if h.timeout_seconds > max_timeout_s else h
            for h in hooks]


def post_hook(
    session: requests.Session,
    hook: Webhook,
    payload: Mapping[str, Any],
    *,
    backoff_s: float = BACKOFF_SECONDS,
) -> HookResult:
    """POST the payload with up to `hook.retries` retries, all within `hook.timeout_seconds`;
    pass when the status is <= 202."""
    register_url(hook.url, path_is_secret=False)
    body = json.dumps(payload).encode()
    deadline = time.monotonic() + hook.timeout_seconds
    result, made = _failure(hook, None, "not called"), 0
    for attempt in range(max(0, hook.retries) + 1):
        if attempt:
            pause = min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        result, retry = _attempt(session, hook, body, deadline - time.monotonic())
        made += 1
        if not retry:
            break
    if made > 1 and not result.passed:
        result = _with_message(result, f"{result.message} (after {made} attempts)")
    return result


def _attempt(
    session: requests.Session, hook: Webhook, body: bytes, remaining: float
) -> tuple[HookResult, bool]:
    """One POST within `remaining` seconds; the result and whether it is worth retrying."""
    try:
        with warnings.catch_warnings():
            if hook.disable_tls:
                warnings.simplefilter("ignore", InsecureRequestWarning)
            reply = bounded_request(
                session, "POST", hook.url, deadline_s=remaining,
                max_body=MAX_ANSWER_BYTES, truncate=True, data=body,
                headers={"Content-Type": "application/json"}, verify=not hook.disable_tls,
            )
    except HttpError as err:
        return _failure(hook, None, _error_text(hook, err)), err.kind in ("connect", "timeout")
    status = reply.status
    passed = status <= 202
    message = _truncate(reply.text) or f"HTTP {status}"
    result = HookResult(hook.name, hook.type, passed, status=status, message=message)
    return result, status in _RETRY_STATUSES


def _failure(hook: Webhook, status: int | None, message: str) -> HookResult:
    return HookResult(hook.name, hook.type, False, status=status, message=message)


def _with_message(result: HookResult, message: str) -> HookResult:
    return HookResult(result.name, result.type, result.passed, result.status, message)


def _truncate(text: str) -> str:
    text = text.strip()
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "..."


def _error_text(hook: Webhook, err: HttpError) -> str:
    if err.kind == "timeout":
        return f"timeout after {hook.timeout_seconds:g}s"
    if err.kind == "tls":
        return f"{redact_url(hook.url)}: TLS error (set disableTLS to skip verification)"
    return f"{redact_url(hook.url)}: {err.message}"


def redact_url(url: str) -> str:
    """Scheme, host, port and path only: no user:password, query or fragment (safe to show)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
