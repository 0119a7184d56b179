"""Event and post-rollout webhooks go out in the background (gitbot.adapters.event_delivery):
a held event sink never holds a pass, a canary's calls arrive in order once it answers, a held
sink does not delay a canary on another lane, `close` gives up within its drain bound,
`webhooks.maxTimeout` caps them and a failure is logged once. Against a real HTTP server on
127.0.0.1 (tests/gatedserver.py) that holds requests until the test releases them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from gatedserver import GatedServer, held

from gitbot.adapters import background
from gitbot.adapters.event_delivery import EventSender
from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec, Webhook, WebhookType
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo
from gitbot.wiring import build_app

KEY = "test/podinfo"


def messages(server: GatedServer, path: str) -> list[str]:
    """The eventMessage of each event that reached `path`, in arrival order."""
    return [body["metadata"]["eventMessage"] for at, body in server.received() if at == path]


def paths(server: GatedServer, prefix: str) -> list[str]:
    return [at for at, _ in server.received() if at.startswith(prefix)]


@pytest.fixture
def server() -> Iterator[GatedServer]:
    with GatedServer() as srv:
        yield srv


def canary(name: str, *hooks: Webhook) -> Canary:
    return Canary(name=name, namespace="test", target=ObjectRef(name=name, kind="Deployment"),
                  service=ServiceSpec(port=9898), analysis=Analysis(webhooks=hooks))


def hook(url: str, kind: WebhookType = WebhookType.EVENT, name: str = "sink",
         timeout: float = 60) -> Webhook:
    return Webhook(name=name, url=url, type=kind, timeout_seconds=timeout)


def test_a_pass_finishes_while_its_event_is_held(tmp_path: Path, server: GatedServer) -> None:
    gate = server.script("/events", held(200))
    sink = {"name": "sink", "type": "event", "url": f"{server.url}/events", "timeout": "60s"}
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
        assert server.arrived("/events", 1).wait(60) and not gate.is_set()  # still held
        assert any("initialize" in s for s in dev.log_subjects())  # committed and pushed
        state = app.store.load(KEY)
        assert state is not None and state.phase.value == "Initialized"
        assert not app.reconciler.announcer.flush(0)  # the event call is still in flight
        gate.set()
        assert app.reconciler.announcer.flush(60)
        told = messages(server, "/events")
        assert any("Initialization done" in m for m in told), told
    finally:
        gate.set()
        app.close()


@pytest.mark.parametrize("lanes", [pytest.param(1, id="one-lane"), pytest.param(4, id="lanes")])
def test_a_canarys_calls_arrive_in_the_order_they_were_queued(
    server: GatedServer, lanes: int
) -> None:
    gate = server.script("/a", held(200), 200)  # only the first call is held
    a = canary("a", hook(f"{server.url}/a"),
               hook(f"{server.url}/a-post", WebhookType.POST_ROLLOUT))
    b = canary("b", hook(f"{server.url}/b"))
    sender = EventSender(lanes=lanes)
    sender.event(a, "a1", "Normal", "Progressing", "c", 1)
    sender.event(b, "b1", "Normal", "Progressing", "c", 2)
    sender.event(a, "a2", "Warning", "Failed", "c", 3)
    sender.post_rollout(a, "Failed", "c")
    sender.event(a, "a3", "Normal", "Failed", "c", 4)
    assert server.arrived("/a", 1).wait(60)
    assert not sender.flush(0)  # a's first call is held, its others wait behind it
    assert paths(server, "/a") == ["/a"]
    gate.set()
    assert sender.close(60)
    assert paths(server, "/a") == ["/a", "/a", "/a-post", "/a"]
    assert messages(server, "/a") == ["a1", "a2", "a3"] and messages(server, "/b") == ["b1"]
    post = next(body for at, body in server.received() if at == "/a-post")
    assert post == {"name": "a", "namespace": "test", "phase": "Failed", "checksum": "c"}


def test_a_held_sink_does_not_delay_a_canary_on_another_lane(server: GatedServer) -> None:
    gate = server.script("/slow", held(200))
    sender = EventSender()
    slow = canary("slow", hook(f"{server.url}/slow"))
    fast = canary("fast", hook(f"{server.url}/fast"))
    assert sender.lane(slow.key) != sender.lane(fast.key)
    sender.event(slow, "s1", "Normal", "Progressing", "c", 1)
    sender.event(fast, "f1", "Normal", "Progressing", "c", 2)
    sender.event(fast, "f2", "Normal", "Progressing", "c", 3)
    assert server.arrived("/slow", 1).wait(60)
    assert server.arrived("/fast", 2).wait(60), server.received()  # while /slow is held
    assert not gate.is_set() and messages(server, "/slow") == ["s1"]
    gate.set()
    assert sender.close(60)
    assert messages(server, "/fast") == ["f1", "f2"]


def test_close_gives_up_on_a_held_call_within_its_bound(
    server: GatedServer, caplog: pytest.LogCaptureFixture
) -> None:
    gate = server.script("/events", held(200))
    sender = EventSender()
    sink = canary("podinfo", hook(f"{server.url}/events"))
    sender.event(sink, "first", "Normal", "Progressing", "c", 1)
    sender.event(sink, "second", "Normal", "Progressing", "c", 2)
    assert server.arrived("/events", 1).wait(60)
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        assert sender.close(0.2) is False  # returns while the server still holds the call
        assert sender.event(sink, "late", "Normal", "Progressing", "c", 3) is False
    assert not gate.is_set()
    assert "event webhook: 2 call(s) not delivered before shutdown" in caplog.text
    assert "test/podinfo: event webhook: call not sent, gitbot is stopping" in caplog.text


def test_max_timeout_caps_an_event_hook(
    server: GatedServer, caplog: pytest.LogCaptureFixture
) -> None:
    gate = server.script("/events", held(200))
    sender = EventSender(max_timeout_s=0.3)  # webhooks.maxTimeout; the hook says 1 h
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        sender.event(canary("podinfo", hook(f"{server.url}/events", timeout=3600)),
                     "m", "Normal", "Progressing", "c", 1)
        assert sender.flush(60)  # never released: only the cap ends the call
    assert not gate.is_set()
    assert "test/podinfo: event webhook sink failed: timeout after 0.3s" in caplog.text


@pytest.mark.parametrize(
    "kind",
    [pytest.param(WebhookType.EVENT, id="event"),
     pytest.param(WebhookType.POST_ROLLOUT, id="post-rollout")],
)
def test_a_failed_call_is_logged_once(
    server: GatedServer, caplog: pytest.LogCaptureFixture, kind: WebhookType
) -> None:
    server.script("/hook", 403)
    target = canary("podinfo", hook(f"{server.url}/hook", kind, name="notify"))
    sender = EventSender()
    with caplog.at_level(logging.WARNING, logger="gitbot.webhooks"):
        if kind is WebhookType.EVENT:
            sender.event(target, "m", "Normal", "Progressing", "c", 1)
        else:
            sender.post_rollout(target, "Succeeded", "c")
        assert sender.close(60)
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == [f"test/podinfo: {kind.value} webhook notify failed: answer 403"]


def test_a_canary_without_such_hooks_queues_nothing() -> None:
    sender = EventSender()
    gates_only = canary("podinfo", hook("http://127.0.0.1:9/g", WebhookType.ROLLOUT))
    assert sender.event(gates_only, "m", "Normal", "P", "c", 1) is False
    assert sender.post_rollout(gates_only, "Succeeded", "c") is False
    assert sender.close(0)


def test_one_reconcile_run_delivers_an_event_slower_than_the_daemons_drain(
    tmp_path: Path, server: GatedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gitbot reconcile` is a whole pass in one process: its events are delivered before it
    exits even when the sink answers after the daemon's shutdown drain (made 0.2 s here)."""
    monkeypatch.setattr(background, "DRAIN_SECONDS", 0.2)
    gate = server.script("/events", held(200), 200, 200, 200)
    sink = {"name": "sink", "type": "event", "url": f"{server.url}/events", "timeout": "60s"}
    dev = create_gitops_repo(tmp_path, options=CanaryOptions(webhooks=[sink]))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n", encoding="utf-8")

    def release_after_the_drain() -> None:
        if server.arrived("/events", 1).wait(120):
            closed.wait(1.0)  # well past the 0.2 s drain: the daemon would have given up
            gate.set()

    closed = threading.Event()
    releaser = threading.Thread(target=release_after_the_drain)
    releaser.start()
    try:
        result = CliRunner().invoke(cli, ["--config", str(config), "reconcile"],
                                    catch_exceptions=False)
    finally:
        closed.set()
        gate.set()
        releaser.join()
    assert result.exit_code == 0, result.output
    told = messages(server, "/events")
    assert any("Initialization done" in m for m in told), told
    assert "not delivered" not in result.output
