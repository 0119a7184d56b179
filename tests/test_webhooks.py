"""Tests for gitbot.adapters.webhooks against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.webhooks import call_hooks, send_event
from gitbot.core.spec import (
    Analysis,
    Canary,
    ObjectRef,
    ServiceSpec,
    Webhook,
    WebhookType,
    freeze,
)
from gitbot.sim.prometheus import free_port

GATE_TYPES = [t for t in WebhookType if t is not WebhookType.EVENT]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as srv:
        yield srv


def make_canary(*hooks: Webhook) -> Canary:
    return Canary(
        name="podinfo",
        namespace="test",
        target=ObjectRef(name="podinfo", kind="Deployment"),
        service=ServiceSpec(port=9898),
        analysis=Analysis(webhooks=hooks),
    )


def hook(
    url: str, name: str = "gate", kind: WebhookType = WebhookType.ROLLOUT, **kw: object
) -> Webhook:
    return Webhook(name=name, url=url, type=kind, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [pytest.param(t, id=t.value) for t in GATE_TYPES])
def test_gate_payload_for_every_type(server: RecordingServer, kind: WebhookType) -> None:
    meta = freeze({"cmd": "hey -z 1m http://podinfo-canary.test:9898/"})
    canary = make_canary(hook(f"{server.url}/hook", kind=kind, metadata=meta))
    results = call_hooks(canary, kind, "Progressing", "abc123")
    assert [(r.name, r.type, r.passed, r.status) for r in results] == [("gate", kind, True, 200)]
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "abc123",
        "metadata": {"cmd": "hey -z 1m http://podinfo-canary.test:9898/"},
    }


def test_gate_without_metadata_omits_it(server: RecordingServer) -> None:
    call_hooks(make_canary(hook(f"{server.url}/h")), WebhookType.ROLLOUT, "Progressing", "c")
    assert server.requests[0].json() == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "c",
    }


def test_event_payload_and_protected_keys(server: RecordingServer) -> None:
    meta = freeze({"eventType": "spoofed", "team": "payments"})
    canary = make_canary(
        hook(f"{server.url}/events", name="sink", kind=WebhookType.EVENT, metadata=meta)
    )
    results = send_event(
        canary,
        "Advance podinfo.test canary weight 10",
        "Normal",
        "Progressing",
        "c1",
        1795316430151,
    )
    assert [r.passed for r in results] == [True]
    assert server.requests[0].json() == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "c1",
        "metadata": {
            "eventMessage": "Advance podinfo.test canary weight 10",
            "eventType": "Normal",
            "timestamp": "1795316430151",
            "team": "payments",
        },
    }


def test_event_to_explicit_sinks_ignores_gate_hooks(server: RecordingServer) -> None:
    canary = make_canary(hook(f"{server.url}/gate"))
    sinks = [hook(f"{server.url}/global", name="global", kind=WebhookType.EVENT)]
    send_event(canary, "m", "Warning", "Failed", "c", 1, webhooks=sinks)
    assert [r.path for r in server.requests] == ["/global"]
    assert server.requests[0].json()["metadata"]["eventType"] == "Warning"


@pytest.mark.parametrize(
    ("status", "passed"),
    [
        pytest.param(200, True, id="200-passes"),
        pytest.param(201, True, id="201-passes"),
        pytest.param(202, True, id="202-passes"),
        pytest.param(204, False, id="204-fails"),
        pytest.param(403, False, id="403-fails"),
        pytest.param(500, False, id="500-fails"),
    ],
)
def test_status_rule(server: RecordingServer, status: int, passed: bool) -> None:
    server.reply("/gate", Reply(status, "gate says so" if status != 204 else ""))
    (result,) = call_hooks(make_canary(hook(f"{server.url}/gate")), WebhookType.ROLLOUT, "P", "c")
    assert (result.passed, result.status) == (passed, status)
    assert result.message == ("HTTP 204" if status == 204 else "gate says so")


def test_long_body_is_truncated(server: RecordingServer) -> None:
    server.reply("/gate", Reply(403, "x" * 2000))
    (result,) = call_hooks(make_canary(hook(f"{server.url}/gate")), WebhookType.ROLLOUT, "P", "c")
    assert result.message == "x" * 500 + "..."


def test_first_failure_stops_the_rest(server: RecordingServer) -> None:
    server.reply("/b", 403)
    hooks = [hook(f"{server.url}/{n}", name=n) for n in ("a", "b", "c")]
    results = call_hooks(make_canary(*hooks), WebhookType.ROLLOUT, "Progressing", "c")
    assert [(r.name, r.passed) for r in results] == [("a", True), ("b", False)]
    assert [r.path for r in server.requests] == ["/a", "/b"]


def test_all_hooks_run_when_asked(server: RecordingServer) -> None:
    server.reply("/a", 500)
    hooks = [hook(f"{server.url}/{n}", name=n) for n in ("a", "b")]
    results = call_hooks(
        make_canary(*hooks), WebhookType.ROLLOUT, "P", "c", stop_at_first_failure=False
    )
    assert [(r.name, r.passed) for r in results] == [("a", False), ("b", True)]


def test_only_hooks_of_the_kind_are_called(server: RecordingServer) -> None:
    hooks = [
        hook(f"{server.url}/pre", name="pre", kind=WebhookType.PRE_ROLLOUT),
        hook(f"{server.url}/load", name="load", kind=WebhookType.ROLLOUT),
    ]
    results = call_hooks(make_canary(*hooks), WebhookType.PRE_ROLLOUT, "Progressing", "c")
    assert [r.name for r in results] == ["pre"]
    assert [r.path for r in server.requests] == ["/pre"]


def test_retries_until_success(server: RecordingServer) -> None:
    server.reply("/flaky", 500, 503, Reply(200, "ok"))
    canary = make_canary(hook(f"{server.url}/flaky", retries=3))
    (result,) = call_hooks(canary, WebhookType.ROLLOUT, "P", "c", backoff_s=0.01)
    assert (result.passed, result.status, result.message) == (True, 200, "ok")
    assert len(server.requests_to("/flaky")) == 3


def test_retries_are_bounded(server: RecordingServer) -> None:
    server.reply("/down", Reply(500, "boom"))
    canary = make_canary(hook(f"{server.url}/down", retries=2))
    (result,) = call_hooks(canary, WebhookType.ROLLOUT, "P", "c", backoff_s=0.01)
    assert (result.passed, result.status) == (False, 500)
    assert result.message == "boom (after 3 attempts)"
    assert len(server.requests_to("/down")) == 3


def test_client_errors_are_not_retried(server: RecordingServer) -> None:
    server.reply("/halt", 403)
    canary = make_canary(hook(f"{server.url}/halt", retries=3))
    (result,) = call_hooks(canary, WebhookType.ROLLOUT, "P", "c", backoff_s=0.01)
    assert not result.passed
    assert len(server.requests_to("/halt")) == 1


def test_timeout_fails_with_cause(server: RecordingServer) -> None:
    server.reply("/slow", Reply(200, delay=5))
    canary = make_canary(hook(f"{server.url}/slow", timeout_seconds=0.3))
    (result,) = call_hooks(canary, WebhookType.ROLLOUT, "P", "c")
    assert (result.passed, result.status, result.message) == (False, None, "timeout after 0.3s")


def test_connection_refused_fails_with_cause() -> None:
    url = f"http://user:s3cret@127.0.0.1:{free_port()}/gate?token=abc"
    canary = make_canary(hook(url, kind=WebhookType.CONFIRM_ROLLOUT, retries=1))
    (result,) = call_hooks(canary, WebhookType.CONFIRM_ROLLOUT, "Waiting", "c", backoff_s=0.01)
    assert not result.passed and result.status is None
    assert "connection refused" in result.message
    assert "s3cret" not in result.message and "token" not in result.message
    assert "after 2 attempts" in result.message


def test_no_hooks_no_calls(server: RecordingServer) -> None:
    assert call_hooks(make_canary(), WebhookType.ROLLOUT, "P", "c") == ()
    assert send_event(make_canary(), "m", "Normal", "P", "c", 1) == ()
    assert server.requests == []
