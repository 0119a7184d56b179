"""Chat delivery (gitbot.adapters.chat_delivery, gitbot.notify): bounded retries with backoff in
a background sender that never holds the tick, and Discord's `/slack` suffix added once.

Real HTTP servers on 127.0.0.1; waits are on events and `flush`, never on sleeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from httpfixtures import RecordingServer, Reply
from test_decide_common import podinfo

from gitbot.adapters.chat_delivery import ChatSender, Outcome, RetryPolicy, deliver
from gitbot.adapters.notifiers import ChatMessage, ChatNotifier, Delivery, discord_slack_url
from gitbot.core.spec import Severity
from gitbot.core.state import AlertMessage, Decision, RolloutState
from gitbot.notify import Announcer

MESSAGE = ChatMessage("podinfo", "test", "Failed checks threshold reached 5", Severity.ERROR)
FAST = RetryPolicy(attempts=3, backoff=(0.05, 0.1), budget_s=10.0)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as srv:
        yield srv


def delivery(url: str, kind: str = "slack") -> Delivery:
    return Delivery(ChatNotifier(kind, url, label="chat"), MESSAGE, "alert on-call")


class Outcomes:
    """Collects the sender's outcomes; `wait(n)` blocks until n arrived."""

    def __init__(self) -> None:
        self.items: list[Outcome] = []
        self._cond = threading.Condition()

    def __call__(self, outcome: Outcome) -> None:
        with self._cond:
            self.items.append(outcome)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 30.0) -> list[Outcome]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


class GateServer:
    """Answers 500 to every POST, each only after the test opens the gate."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.gate = threading.Event()
        self.hits = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gate.hits += 1
                gate.arrived.set()
                gate.gate.wait(30)
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def __enter__(self) -> GateServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("https://discord.com/api/webhooks/1/tok", "https://discord.com/api/webhooks/1/tok/slack",
                     id="suffix-added"),
        pytest.param("https://discord.com/api/webhooks/1/tok/", "https://discord.com/api/webhooks/1/tok/slack",
                     id="trailing-slash"),
        pytest.param("https://discord.com/api/webhooks/1/tok/slack",
                     "https://discord.com/api/webhooks/1/tok/slack", id="already-slack"),
        pytest.param("https://discord.com/api/webhooks/1/tok/slack/",
                     "https://discord.com/api/webhooks/1/tok/slack", id="already-slack-slash"),
        pytest.param("https://discord.com/api/webhooks/1/tok?wait=true",
                     "https://discord.com/api/webhooks/1/tok/slack?wait=true", id="query-kept"),
    ],
)
def test_discord_slack_suffix_added_once(address: str, expected: str) -> None:
    assert discord_slack_url(address) == expected


@pytest.mark.parametrize("path", ["/api/webhooks/1/tok", "/api/webhooks/1/tok/slack"])
def test_discord_posts_to_one_slack_suffix(server: RecordingServer, path: str) -> None:
    assert ChatNotifier("discord", server.url + path).post(MESSAGE) is None
    assert [r.path for r in server.requests] == ["/api/webhooks/1/tok/slack"]


def test_failing_twice_then_succeeding_delivers_the_message_once(server: RecordingServer) -> None:
    server.reply("/hook", 500, 503, 200)
    outcomes = Outcomes()
    sender = ChatSender(FAST, on_outcome=outcomes)
    assert sender.submit("test/podinfo", delivery(f"{server.url}/hook"))
    [outcome] = outcomes.wait(1)
    assert (outcome.attempts, outcome.failure) == (3, None)
    assert sender.close(5)
    assert len(server.requests_to("/hook")) == 3  # 500, 503, then one delivery; nothing after
    assert all(r.json() == server.requests[0].json() for r in server.requests)


@pytest.mark.parametrize(
    ("replies", "attempts"),
    [
        pytest.param((404,), 1, id="4xx-is-final"),
        pytest.param((429, 200), 2, id="429-is-retried"),
        pytest.param((502, 502, 502, 200), 3, id="at-most-3-attempts"),
    ],
)
def test_only_transient_failures_are_retried(
    server: RecordingServer, replies: tuple[int, ...], attempts: int
) -> None:
    server.reply("/hook", *replies)
    outcomes = Outcomes()
    sender = ChatSender(FAST, on_outcome=outcomes)
    sender.submit("test/podinfo", delivery(f"{server.url}/hook"))
    [outcome] = outcomes.wait(1)
    sender.close(5)
    assert outcome.attempts == attempts == len(server.requests_to("/hook"))


def test_default_policy_waits_one_then_two_seconds(server: RecordingServer) -> None:
    """The real policy against a server that always fails: 3 attempts, waits of 1 s and 2 s."""
    server.reply("/hook", 500)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False  # not told to stop; no real sleep

    attempts, failure = deliver(delivery(f"{server.url}/hook"), RetryPolicy(), wait)
    assert (attempts, waits) == (3, [1.0, 2.0])
    assert failure is not None and failure.text == "chat: HTTP 500"
    assert len(server.requests_to("/hook")) == 3


def test_always_failing_chat_never_blocks_the_tick(caplog: pytest.LogCaptureFixture) -> None:
    """announce() returns while the first attempt is still unanswered; the retries run after."""
    caplog.set_level(logging.INFO, logger="gitbot.notify")
    outcomes = Outcomes()
    with GateServer() as gate:
        notifier = ChatNotifier("slack", gate.url, label="chat (slack)")
        announcer = Announcer(lambda: {}, lambda ns, n: {}, global_chat=notifier,
                              sender=ChatSender(FAST, on_outcome=outcomes))
        decision = Decision(RolloutState(), alerts=(AlertMessage(Severity.ERROR, "failed"),))
        announcer.announce(podinfo(), decision.state, decision, "", "")  # the tick's last step
        assert gate.arrived.wait(10)  # the message is on its way...
        assert gate.hits == 1 and outcomes.items == []  # ...and unanswered: the tick went on
        assert not announcer.flush(0)
        gate.gate.set()
        [outcome] = outcomes.wait(1)
        assert announcer.close(5)
    assert outcome.attempts == 3 and gate.hits == 3
    assert outcome.failure is not None and outcome.failure.text == "chat (slack): HTTP 500"
    assert "test/podinfo: chat: chat (slack): HTTP 500 (gave up after 3 attempts)" in caplog.text


def test_a_silent_chat_costs_at_most_the_budget(server: RecordingServer) -> None:
    """A server that never answers: every attempt shares the message's total budget."""
    server.reply("/hook", Reply(200, delay=30))
    policy = RetryPolicy(attempts=3, backoff=(0.1,), budget_s=1.0)
    outcomes = Outcomes()
    sender = ChatSender(policy, on_outcome=outcomes)
    started = time.monotonic()
    sender.submit("test/podinfo", delivery(f"{server.url}/hook"))
    [outcome] = outcomes.wait(1)
    elapsed = time.monotonic() - started
    sender.close(5)
    assert outcome.failure is not None and "timeout" in outcome.failure.text
    assert elapsed < policy.budget_s + 3.0, elapsed  # not one 5 s attempt, nor 3 x 5 s


def test_close_drains_the_queue_in_order(server: RecordingServer) -> None:
    sender = ChatSender(FAST)
    for n in range(3):
        message = ChatMessage("podinfo", "test", f"message {n}", Severity.INFO)
        sender.submit("test/podinfo", Delivery(ChatNotifier("generic", server.url), message))
    assert sender.close(10)
    assert [r.json()["message"] for r in server.requests] == ["message 0", "message 1", "message 2"]
    assert not sender.submit("test/podinfo", delivery(server.url))  # closed: refused, logged


def test_close_gives_up_at_its_deadline(caplog: pytest.LogCaptureFixture) -> None:
    with GateServer() as gate:
        sender = ChatSender(FAST)
        sender.submit("test/podinfo", delivery(gate.url))
        sender.submit("test/podinfo", delivery(gate.url))
        assert gate.arrived.wait(10)
        assert not sender.close(0.2)  # the first is unanswered: it does not wait for it
    assert "chat: 2 message(s) not delivered before shutdown" in caplog.text


def test_a_full_queue_drops_instead_of_waiting(caplog: pytest.LogCaptureFixture) -> None:
    with GateServer() as gate:
        sender = ChatSender(FAST, max_queued=1)
        assert sender.submit("test/podinfo", delivery(gate.url))
        assert gate.arrived.wait(10)
        assert not sender.submit("test/podinfo", delivery(gate.url))
        gate.gate.set()
        sender.close(10)
    assert "test/podinfo: chat: message dropped, 1 messages already wait" in caplog.text
