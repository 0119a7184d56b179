"""Tests for gitbot.adapters.notifiers: payload shapes (golden files), severity filter, delivery.

Regenerate the golden files after an intended change with `GITBOT_UPDATE_GOLDEN=1 pytest ...`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.notifiers import ChatMessage, ChatNotifier, NullNotifier, notify, receives
from gitbot.core.spec import (
    Alert,
    AlertProvider,
    Analysis,
    Canary,
    ObjectRef,
    ServiceSpec,
    Severity,
)
from gitbot.core.state import AlertMessage
from gitbot.sim.prometheus import free_port

GOLDEN = Path(__file__).parent / "data" / "golden" / "chat"
FIELDS = (
    ("Target", "Deployment/podinfo.test"),
    ("Failed checks threshold", "5"),
    ("Progress deadline", "600s"),
    ("Traffic routing", "Weight step: 10 max: 50"),
)
LINK = "https://git.example/gitops/commit/0123456789ab"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as srv:
        yield srv


def make_canary(*alerts: Alert) -> Canary:
    return Canary(
        name="podinfo",
        namespace="test",
        target=ObjectRef(name="podinfo", kind="Deployment"),
        service=ServiceSpec(port=9898),
        analysis=Analysis(alerts=alerts),
    )


def entry(provider: str, severity: Severity | None, name: str = "on-call") -> Alert:
    return Alert(name=name, provider_ref=ObjectRef(name=provider), severity=severity)


def provider(kind: str, address: str, name: str = "chat", **kw: str) -> AlertProvider:
    return AlertProvider(name=name, namespace="test", type=kind, address=address, **kw)


def no_secrets(namespace: str, name: str) -> Mapping[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")


def check_golden(name: str, payload: object) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    if os.environ.get("GITBOT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"payload differs from {path}"


@pytest.mark.parametrize(
    ("kind", "severity", "path"),
    [
        pytest.param("slack", Severity.INFO, "/hook", id="slack-info"),
        pytest.param("slack", Severity.ERROR, "/hook", id="slack-error"),
        pytest.param("discord", Severity.INFO, "/hook/slack", id="discord-info"),
        pytest.param("rocket", Severity.ERROR, "/hook", id="rocket-error"),
        pytest.param("msteams", Severity.INFO, "/hook", id="msteams-info"),
        pytest.param("msteams", Severity.ERROR, "/hook", id="msteams-error"),
        pytest.param("gchat", Severity.INFO, "/hook", id="gchat-info"),
        pytest.param("generic", Severity.WARN, "/hook", id="generic-warn"),
    ],
)
def test_payload_shapes(server: RecordingServer, kind: str, severity: Severity, path: str) -> None:
    providers = {"test/chat": provider(kind, f"{server.url}/hook", channel="deploys")}
    canary = make_canary(entry("chat", Severity.INFO))
    alert = AlertMessage(severity, "New revision detected, progressing canary analysis.", True)
    errors = notify(canary, alert, providers, no_secrets, commit_url=LINK, fields=FIELDS)
    assert errors == []
    (request,) = server.requests
    assert request.path == path and request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    check_golden(f"{kind}-{severity.value}", request.json())


def test_fields_only_with_metadata(server: RecordingServer) -> None:
    providers = {"test/chat": provider("slack", server.url)}
    alert = AlertMessage(Severity.ERROR, "Failed checks threshold reached 5")
    notify(make_canary(entry("chat", Severity.INFO)), alert, providers, no_secrets, fields=FIELDS)
    attachment = server.requests[0].json()["attachments"][0]
    assert attachment["fields"] == [] and attachment["text"] == "Failed checks threshold reached 5"
    assert attachment["color"] == "danger"


@pytest.mark.parametrize(
    ("entry_severity", "received"),
    [
        pytest.param(Severity.INFO, {"info", "warn", "error"}, id="info-gets-everything"),
        pytest.param(Severity.WARN, {"warn", "error"}, id="warn-gets-warn-and-error"),
        pytest.param(Severity.ERROR, {"error"}, id="error-gets-error-only"),
        pytest.param(None, set(), id="omitted-gets-nothing"),
    ],
)
def test_severity_filter(
    server: RecordingServer, entry_severity: Severity | None, received: set[str]
) -> None:
    providers = {"test/chat": provider("generic", server.url)}
    canary = make_canary(entry("chat", entry_severity))
    for severity in Severity:
        notify(canary, AlertMessage(severity, "m"), providers, no_secrets)
    assert {r.json()["severity"] for r in server.requests} == received
    assert all(receives(entry_severity, s) == (s.value in received) for s in Severity)


def test_secret_address_and_token_win(server: RecordingServer) -> None:
    seen: list[tuple[str, str]] = []

    def resolve(namespace: str, name: str) -> Mapping[str, str]:
        seen.append((namespace, name))
        return {"address": f"{server.url}/from-secret", "token": "xoxb-secret"}

    providers = {"test/chat": provider("slack", "http://127.0.0.1:9/wrong", secret_ref="slack-url")}
    errors = notify(
        make_canary(entry("chat", Severity.INFO)),
        AlertMessage(Severity.INFO, "m"),
        providers,
        resolve,
    )
    assert errors == [] and seen == [("test", "slack-url")]
    (request,) = server.requests
    assert request.path == "/from-secret"
    assert request.headers["authorization"] == "Bearer xoxb-secret"


def test_every_matching_entry_is_sent_and_failures_are_returned(server: RecordingServer) -> None:
    server.reply("/broken", Reply(500, "nope"))
    providers = {
        "test/ok": provider("generic", f"{server.url}/ok", name="ok"),
        "test/broken": provider("slack", f"{server.url}/broken?secret=abc", name="broken"),
    }
    canary = make_canary(
        entry("broken", Severity.INFO, name="first"),
        entry("ok", Severity.INFO, name="second"),
        entry("missing", Severity.INFO, name="third"),
    )
    errors = notify(canary, AlertMessage(Severity.INFO, "m"), providers, no_secrets)
    assert errors == [
        "alert first: AlertProvider test/broken (slack): HTTP 500",
        "alert third: AlertProvider test/missing not found",
    ]
    assert [r.path for r in server.requests] == ["/broken", "/ok"]
    assert all(len(server.requests_to(p)) == 1 for p in ("/broken", "/ok"))  # no retries


def test_unreachable_and_misconfigured_providers_never_raise() -> None:
    port = free_port()
    providers = {
        "test/down": provider(
            "msteams", f"http://127.0.0.1:{port}/webhook?sig=s3cret", name="down"
        ),
        "test/nourl": provider("slack", "", name="nourl"),
        "test/odd": provider("pagerduty", "http://127.0.0.1:9/", name="odd"),
    }
    canary = make_canary(*(entry(n, Severity.INFO, name=n) for n in ("down", "nourl", "odd")))
    errors = notify(canary, AlertMessage(Severity.ERROR, "m"), providers, no_secrets)
    assert errors == [
        "alert down: AlertProvider test/down (msteams): connection refused",
        "alert nourl: AlertProvider test/nourl: no address (set spec.address or the secret "
        "key 'address')",
        "alert odd: AlertProvider test/odd: unsupported alert provider type 'pagerduty'",
    ]
    assert not any("s3cret" in e for e in errors)


def test_failing_secret_resolver_is_reported(server: RecordingServer) -> None:
    def resolve(namespace: str, name: str) -> Mapping[str, str]:
        raise KeyError(f"secret {namespace}/{name} not found")

    providers = {"test/chat": provider("slack", server.url, secret_ref="gone")}
    errors = notify(
        make_canary(entry("chat", Severity.INFO)),
        AlertMessage(Severity.INFO, "m"),
        providers,
        resolve,
    )
    assert errors == ["alert on-call: AlertProvider test/chat: 'secret test/gone not found'"]
    assert server.requests == []


def test_null_provider_and_null_notifier_send_nothing(server: RecordingServer) -> None:
    providers = {"test/chat": provider("null", server.url)}
    canary = make_canary(entry("chat", Severity.INFO))
    assert notify(canary, AlertMessage(Severity.INFO, "m"), providers, no_secrets) == []
    assert NullNotifier().post(ChatMessage("a", "b", "m", Severity.INFO)) is None
    assert server.requests == []


def test_slow_chat_times_out(server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gitbot.adapters.notifiers.TIMEOUT_SECONDS", 0.2)
    server.reply("/slow", Reply(200, delay=3))
    notifier = ChatNotifier("gchat", f"{server.url}/slow", label="gchat")
    assert notifier.post(ChatMessage("podinfo", "test", "m", Severity.INFO)) == (
        "gchat: timeout after 0.2s"
    )
