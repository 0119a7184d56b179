"""Event and post-rollout webhooks go out in the background (gitbot.adapters.event_delivery):
a held event sink never holds a pass, calls arrive in order once it answers, `close` gives up
within its drain bound, `webhooks.maxTimeout` caps them and a failure is logged once. Against a
real HTTP server on 127.0.0.1 that holds each request until the test releases it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitbot.adapters.event_delivery import EventSender
from gitbot.config import load_settings
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec, Webhook, WebhookType
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo
from gitbot.wiring import build_app

KEY = "test/podinfo"


class HeldServer:
    """Records each POST (path, JSON body) as it arrives, then holds it until `release` is set
    (only the paths in `held`, when given) and answers `status` (per path, 200 by default)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.arrived = threading.Event()  # set by the first request
        self.release = threading.Event()
        self.status: dict[str, int] = {}
        self.held: set[str] | None = None  # None: every path
        self._seen = threading.Condition()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def messages(self, path: str | None = None) -> list[str]:
        return [body["metadata"]["eventMessage"] for at, body in self.received
                if "metadata" in body and path in (None, at)]

    def wait_for(self, count: int, path: str, timeout: float = 60) -> bool:
        """Wait until `count` requests to `path` arrived."""
        with self._seen:
            return self._seen.wait_for(
                lambda: sum(at == path for at, _ in self.received) >= count, timeout)

    def __enter__(self) -> HeldServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _handler(server: HeldServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with server._seen:
                server.received.append((self.path, json.loads(body)))
                server._seen.notify_all()
            server.arrived.set()
            if server.held is None or self.path in server.held:
                server.release.wait(120)
            self.send_response(server.status.get(self.path, 200))
            self.send_header("Content-Length", "2")
            self.end_headers()
            try:
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def held() -> Iterator[HeldServer]:
    with HeldServer() as server:
        yield server


def canary(name: str, *hooks: Webhook) -> Canary:
    return Canary(name=name, namespace="test", target=ObjectRef(name=name, kind="Deployment"),
                  service=ServiceSpec(port=9898), analysis=Analysis(webhooks=hooks))


def hook(url: str, kind: WebhookType = WebhookType.EVENT, name: str = "sink",
         timeout: float = 60) -> Webhook:
    return Webhook(name=name, url=url, type=kind, timeout_seconds=timeout)


def test_a_pass_finishes_while_its_event_is_held(tmp_path: Path, held: HeldServer) -> None:
    sink = {"name": "sink", "type": "event", "url": f"{held.url}/events", "timeout": "60s"}
    dev = create_gitops_repo(tmp_path, options=CanaryOptions(webhooks=[sink]))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n", encoding="utf-8")
    app = build_app(load_settings(config))
    try:
        finished = threading.Event()
        worker = threading.Thread(target=lambda: (app.reconciler.run_pass(), finished.set()))
        worker.start()
        assert finished.wait(120), "the pass waited for its held event webhook"
        assert held.arrived.is_set() and not held.release.is_set()  # still held
        assert any("initialize" in s for s in dev.log_subjects())  # committed and pushed
        state = app.store.load(KEY)
        assert state is not None and state.phase.value == "Initialized"
        assert not app.reconciler.announcer.flush(0)  # the event call is still in flight
        held.release.set()
        assert app.reconciler.announcer.flush(60)
        assert held.messages() and all(p == "/events" for p, _ in held.received)
        assert any("Initialization done" in m for m in held.messages()), held.messages()
    finally:
        held.release.set()
        app.close()


@pytest.mark.parametrize("lanes", [pytest.param(1, id="one-lane"), pytest.param(4, id="lanes")])
def test_a_canarys_calls_arrive_in_the_order_they_were_queued(
    held: HeldServer, lanes: int
) -> None:
    a = canary("a", hook(f"{held.url}/a"), hook(f"{held.url}/a-post", WebhookType.POST_ROLLOUT))
    b = canary("b", hook(f"{held.url}/b"))
    sender = EventSender(lanes=lanes)
    sender.event(a, "a1", "Normal", "Progressing", "c", 1)
    sender.event(b, "b1", "Normal", "Progressing", "c", 2)
    sender.event(a, "a2", "Warning", "Failed", "c", 3)
    sender.post_rollout(a, "Failed", "c")
    sender.event(a, "a3", "Normal", "Failed", "c", 4)
    assert held.wait_for(1, "/a")
    assert not sender.flush(0)  # a's first call is held, its others wait behind it
    assert [p for p, _ in held.received if p.startswith("/a")] == ["/a"]
    held.release.set()
    assert sender.close(60)
    assert [p for p, _ in held.received if p.startswith("/a")] == ["/a", "/a", "/a-post", "/a"]
    assert held.messages("/a") == ["a1", "a2", "a3"] and held.messages("/b") == ["b1"]
    post = next(body for p, body in held.received if p == "/a-post")
    assert post == {"name": "a", "namespace": "test", "phase": "Failed", "checksum": "c"}


def test_a_held_sink_does_not_delay_a_canary_on_another_lane(held: HeldServer) -> None:
    sender = EventSender()
    slow, fast = canary("slow", hook(f"{held.url}/slow")), canary("fast", hook(f"{held.url}/fast"))
    assert sender.lane(slow.key) != sender.lane(fast.key)
    held.held = {"/slow"}
    sender.event(slow, "s1", "Normal", "Progressing", "c", 1)
    sender.event(fast, "f1", "Normal", "Progressing", "c", 2)
    sender.event(fast, "f2", "Normal", "Progressing", "c", 3)
    assert held.wait_for(2, "/fast"), held.received  # while /slow is still held
    assert not held.release.is_set() and held.messages("/slow") == ["s1"]
    held.release.set()
    assert sender.close(60)
    assert held.messages("/fast") == ["f1", "f2"]


def test_close_gives_up_on_a_held_call_within_its_bound(
    held: HeldServer, caplog: pytest.LogCaptureFixture
) -> None:
    sender = EventSender()
    sink = canary("podinfo", hook(f"{held.url}/events"))
    sender.event(sink, "first", "Normal", "Progressing", "c", 1)
    sender.event(sink, "second", "Normal", "Progressing", "c", 2)
    assert held.arrived.wait(60)
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        assert sender.close(0.2) is False  # returns while the server still holds the call
    assert not held.release.is_set()
    assert "event webhook: 2 call(s) not delivered before shutdown" in caplog.text
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        assert sender.event(sink, "late", "Normal", "Progressing", "c", 3) is False
    assert "test/podinfo: event webhook: call not sent, gitbot is stopping" in caplog.text


def test_max_timeout_caps_an_event_hook(
    held: HeldServer, caplog: pytest.LogCaptureFixture
) -> None:
    sender = EventSender(max_timeout_s=0.3)  # webhooks.maxTimeout; the hook says 1 h
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        sender.event(canary("podinfo", hook(f"{held.url}/events", timeout=3600)),
                     "m", "Normal", "Progressing", "c", 1)
        assert sender.flush(60)  # never released: only the cap ends the call
    assert not held.release.is_set()
    assert "test/podinfo: event webhook sink failed: timeout after 0.3s" in caplog.text


@pytest.mark.parametrize(
    "kind",
    [pytest.param(WebhookType.EVENT, id="event"),
     pytest.param(WebhookType.POST_ROLLOUT, id="post-rollout")],
)
def test_a_failed_call_is_logged_once(
    held: HeldServer, caplog: pytest.LogCaptureFixture, kind: WebhookType
) -> None:
    held.release.set()
    held.status["/hook"] = 403
    target = canary("podinfo", hook(f"{held.url}/hook", kind, name="notify"))
    sender = EventSender()
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        if kind is WebhookType.EVENT:
            sender.event(target, "m", "Normal", "Progressing", "c", 1)
        else:
            sender.post_rollout(target, "Succeeded", "c")
        assert sender.close(60)
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == [f"test/podinfo: {kind.value} webhook notify failed: ok"]


def test_a_canary_without_such_hooks_queues_nothing() -> None:
    sender = EventSender()
    gates_only = canary("podinfo", hook("http://127.0.0.1:9/g", WebhookType.ROLLOUT))
    assert sender.event(gates_only, "m", "Normal", "P", "c", 1) is False
    assert sender.post_rollout(gates_only, "Succeeded", "c") is False
    assert sender.close(0)
