"""Bounded outbound calls against real misbehaving servers on 127.0.0.1: a trickling body or
trickling headers end at the deadline, a redirect to another port is refused before the target
is called, same-origin redirects are followed, and Prometheus, webhooks and chat carry the cause."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from httpfixtures import RecordingServer, Reply
from slowservers import TricklingServer, self_signed

from gitbot.adapters.http import (
    BoundedAdapter,
    HttpError,
    bounded_request,
    bounded_session,
    deadline,
    origin,
)
from gitbot.adapters.notifiers import ChatMessage, ChatNotifier
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.adapters.webhooks import call_hooks
from gitbot.core.spec import (
    Analysis,
    Canary,
    ObjectRef,
    ServiceSpec,
    Severity,
    Webhook,
    WebhookType,
)

MARGIN = 0.9  # to notice the deadline and unwind on a loaded machine; under a second whole
#              deadline, so one more attempt or a per-read timeout still fails the test


def _canary(*hooks: Webhook) -> Canary:
    return Canary(
        name="podinfo",
        namespace="test",
        target=ObjectRef(name="podinfo", kind="Deployment"),
        service=ServiceSpec(port=9898),
        analysis=Analysis(webhooks=hooks),
    )


@pytest.fixture
def target() -> Iterator[RecordingServer]:
    with RecordingServer(Reply(200, "reached")) as server:
        yield server


@pytest.mark.parametrize("part", [pytest.param("body", id="body"),
                                  pytest.param("headers", id="headers")])
def test_trickling_answer_ends_at_the_deadline(part: str) -> None:
    with TricklingServer(part) as slow, bounded_session() as session:
        started = time.monotonic()
        with pytest.raises(HttpError) as caught:
            bounded_request(session, "POST", f"{slow.url}/x", deadline_s=1.0, data=b"{}")
        elapsed = time.monotonic() - started
    assert (caught.value.kind, caught.value.message) == ("timeout", "timeout after 1s")
    assert elapsed < 1.0 + MARGIN


def test_trickling_tls_answer_ends_at_the_deadline(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with TricklingServer("body", tls=(cert, key)) as slow, bounded_session() as session:
        started = time.monotonic()
        with pytest.raises(HttpError, match="timeout after 1s"):
            bounded_request(session, "GET", f"{slow.url}/x", deadline_s=1.0, verify=str(cert))
        assert time.monotonic() - started < 1.0 + MARGIN
        assert slow.hits == ["/x"]  # TLS worked: the request arrived


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_another_port_is_refused(target: RecordingServer, status: int) -> None:
    redirect = Reply(status, headers={"Location": f"{target.url}/steal"})
    with RecordingServer(redirect) as start, bounded_session() as session, \
            pytest.raises(HttpError) as caught:
        bounded_request(session, "POST", f"{start.url}/hook", deadline_s=2, data=b"{}")
    assert caught.value.kind == "redirect"
    assert caught.value.message == f"refused redirect to another host ({origin(target.url)})"
    assert target.requests == []


def test_same_origin_redirect_keeps_method_and_body(target: RecordingServer) -> None:
    target.reply("/old", Reply(307, headers={"Location": "/new"}))
    with bounded_session() as session:
        reply = bounded_request(session, "POST", f"{target.url}/old", deadline_s=2, data=b"{}")
    assert (reply.status, reply.text) == (200, "reached")
    assert [(r.method, r.path, r.body) for r in target.requests] == [
        ("POST", "/old", b"{}"), ("POST", "/new", b"{}")
    ]


def test_redirect_loop_is_bounded(target: RecordingServer) -> None:
    target.reply("/loop", Reply(302, headers={"Location": "/loop"}))
    with bounded_session() as session, pytest.raises(HttpError, match="more than 3 redirects"):
        bounded_request(session, "GET", f"{target.url}/loop", deadline_s=2)
    assert len(target.requests_to("/loop")) == 4


@pytest.mark.parametrize(
    ("truncate", "outcome"),
    [pytest.param(False, "too-large", id="refused"), pytest.param(True, "cut", id="truncated")],
)
def test_body_size_limit(target: RecordingServer, truncate: bool, outcome: str) -> None:
    target.reply("/big", Reply(200, b"y" * 100_000))
    with bounded_session() as session:
        if outcome == "too-large":
            with pytest.raises(HttpError, match="answer larger than 1000 bytes"):
                bounded_request(session, "GET", f"{target.url}/big", deadline_s=2, max_body=1000)
        else:
            reply = bounded_request(session, "GET", f"{target.url}/big", deadline_s=2,
                                    max_body=1000, truncate=True)
            assert (len(reply.body), reply.truncated) == (1000, True)


def test_a_declared_length_over_the_bound_is_refused_before_reading_the_body() -> None:
    """The server declares 1 GB and sends 3 bytes, then holds: reading would wait for the
    deadline; the declared length alone is refused at once, as too large."""
    done = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nabc")
                done.wait()
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/big"
        try:
            with bounded_session() as session, pytest.raises(HttpError) as caught:
                bounded_request(session, "GET", url, deadline_s=5, max_body=1000)
        finally:
            done.set()
            thread.join()
    assert (caught.value.kind, str(caught.value)) == ("too-large", "answer larger than 1000 bytes")


def test_prometheus_trickle_is_a_failed_query_within_its_timeout() -> None:
    with TricklingServer("body") as slow, PrometheusMetrics(slow.url, timeout=1) as metrics:
        started = time.monotonic()
        outcome = metrics.query_value("up")
        elapsed = time.monotonic() - started
    assert outcome.value is None
    assert outcome.error == f"Prometheus query failed: timeout after 1s talking to {slow.url}"
    assert elapsed < 1 + MARGIN


def test_prometheus_redirect_elsewhere_is_refused(target: RecordingServer) -> None:
    redirect = Reply(307, headers={"Location": f"{target.url}/api/v1/query?query=up"})
    with RecordingServer(redirect) as prom, PrometheusMetrics(prom.url) as metrics:
        outcome = metrics.query_value("up")
    assert outcome.error == (
        f"Prometheus query failed: request to {prom.url} failed: refused redirect to another "
        f"host ({origin(target.url)})"
    )
    assert target.requests == []


def test_webhook_trickle_with_retries_stays_within_its_timeout() -> None:
    with TricklingServer("body") as slow:
        hook = Webhook(name="gate", url=f"{slow.url}/gate", type=WebhookType.CONFIRM_ROLLOUT,
                       timeout_seconds=1, retries=50)
        started = time.monotonic()
        (result,) = call_hooks(_canary(hook), WebhookType.CONFIRM_ROLLOUT, "P", "c",
                               backoff_s=0.01)
        elapsed = time.monotonic() - started
    assert (result.passed, result.status) == (False, None)
    assert result.message.startswith("timeout after 1s")
    assert elapsed < 1 + MARGIN


def test_webhook_redirect_elsewhere_fails_the_gate(target: RecordingServer) -> None:
    redirect = Reply(307, headers={"Location": f"{target.url}/approve"})
    with RecordingServer(redirect) as gate:
        hook = Webhook(name="gate", url=f"{gate.url}/gate", type=WebhookType.CONFIRM_PROMOTION)
        (result,) = call_hooks(_canary(hook), WebhookType.CONFIRM_PROMOTION, "P", "c")
    assert not result.passed
    assert result.message == (
        f"{gate.url}/gate: refused redirect to another host ({origin(target.url)})"
    )
    assert target.requests == []


def test_chat_trickle_and_redirect(
    target: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gitbot.adapters.notifiers.TIMEOUT_SECONDS", 1.0)
    message = ChatMessage("podinfo", "test", "m", Severity.INFO)
    with TricklingServer("headers") as slow:
        started = time.monotonic()
        error = ChatNotifier("slack", f"{slow.url}/services/T/B/X", label="chat").post(message)
        assert time.monotonic() - started < 1 + MARGIN
    assert error == "chat: timeout after 1s"
    with RecordingServer(Reply(307, headers={"Location": f"{target.url}/x"})) as chat:
        error = ChatNotifier("slack", f"{chat.url}/services/T/B/X", label="chat").post(message)
    assert error == f"chat: refused redirect to another host ({origin(target.url)})"
    assert target.requests == []


def test_chat_through_a_trickling_proxy_ends_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gitbot.adapters.notifiers.TIMEOUT_SECONDS", 1.0)
    with TricklingServer("body") as proxy:
        notifier = ChatNotifier("slack", "http://chat.invalid/services/T/B/X", proxy=proxy.url,
                                label="chat")
        started = time.monotonic()
        error = notifier.post(ChatMessage("podinfo", "test", "m", Severity.INFO))
        elapsed = time.monotonic() - started
        hits = list(proxy.hits)
    assert error == "chat: timeout after 1s"
    assert hits == ["http://chat.invalid/services/T/B/X"]  # it went through the proxy
    assert elapsed < 1 + MARGIN


def test_deadline_bounds_a_client_that_makes_its_own_requests() -> None:
    """How the GitHub forge bounds PyGithub: its session gets the adapter, each call a deadline."""
    session = requests.Session()
    session.mount("http://", BoundedAdapter())
    with TricklingServer("body") as slow:
        started = time.monotonic()
        with deadline(1.0) as watch, pytest.raises(requests.RequestException):
            session.get(f"{slow.url}/repos/x", timeout=30)  # the client's own per-read timeout
        elapsed = time.monotonic() - started
    session.close()
    assert watch.expired and elapsed < 1 + MARGIN
