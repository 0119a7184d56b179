"""gitbot.adapters.hook_runner against real webhook servers on 127.0.0.1 whose answers the test
releases by hand: a running gate makes its canary wait (never the others), its result is
consumed exactly once, the calls of several canaries run at the same time, and shutdown never
waits for a call in flight."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from gatedserver import GatedServer, held

from gitbot.adapters.hook_runner import HookRunner
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec, Webhook, WebhookType

PRE = WebhookType.PRE_ROLLOUT
WAIT = 30.0  # an upper bound for events that come at once; never reached when all is well


@pytest.fixture
def server() -> Iterator[GatedServer]:
    with GatedServer() as srv:
        yield srv


@pytest.fixture
def runner() -> Iterator[HookRunner]:
    hooks = HookRunner(workers=4, grace_s=0)  # every call that is not done yet waits
    yield hooks
    hooks.shutdown()


def canary(name: str, *urls: str, kind: WebhookType = PRE) -> Canary:
    hooks = tuple(Webhook(name=f"gate-{i}", url=url, type=kind, timeout_seconds=WAIT)
                  for i, url in enumerate(urls))
    return Canary(name=name, namespace="test", target=ObjectRef(name=name, kind="Deployment"),
                  service=ServiceSpec(port=9898), analysis=Analysis(webhooks=hooks))


def ask(runner: HookRunner, spec: Canary, kind: WebhookType = PRE, run: str = "r1"
        ) -> dict[WebhookType, tuple[bool, ...]] | None:
    found = runner.results(spec, (kind,), "Progressing", "sum", run)
    return None if found is None else {k: tuple(r.passed for r in v) for k, v in found.items()}


def settled(runner: HookRunner, *keys: str) -> list[str]:
    return list(runner.settle(keys))


def test_a_held_gate_waits_and_its_failure_is_consumed_exactly_once(
    server: GatedServer, runner: HookRunner
) -> None:
    slow = server.script("/slow", held(500), 200)
    spec = canary("podinfo", f"{server.url}/slow")

    assert ask(runner, spec) is None  # submitted: waiting, nothing decided
    assert server.arrived("/slow", 1).wait(WAIT)
    assert ask(runner, spec) is None  # the same call, not a second one
    slow.set()
    assert settled(runner, "test/podinfo") == ["test/podinfo"]  # one-shot: waits for it

    assert ask(runner, spec) == {PRE: (False,)}  # the failure, once
    assert server.hits("/slow") == 1
    assert ask(runner, spec) is None  # the next tick calls again
    assert settled(runner, "test/podinfo") == ["test/podinfo"]
    assert ask(runner, spec) == {PRE: (True,)}
    assert server.hits("/slow") == 2


def test_a_fast_canary_gets_its_result_while_another_is_held(
    server: GatedServer, runner: HookRunner
) -> None:
    runner.settle_s = 0.5  # the daemon's bound (shortened)
    slow = server.script("/slow", held(200))
    server.script("/fast", 200)
    podinfo, backend = canary("podinfo", f"{server.url}/slow"), canary("backend",
                                                                     f"{server.url}/fast")
    runner.begin_pass()
    assert ask(runner, podinfo) is None
    backend_now = ask(runner, backend)
    waiting = ["test/podinfo"] + (["test/backend"] if backend_now is None else [])

    ready = settled(runner, *waiting)

    assert "test/podinfo" not in ready  # still held: carried to its next tick
    if backend_now is None:
        assert ready == ["test/backend"]
        backend_now = ask(runner, backend)
    assert backend_now == {PRE: (True,)}
    slow.set()
    runner.settle_s = None  # (until the answer is in: the daemon's next tick comes later)
    assert settled(runner, "test/podinfo") == ["test/podinfo"]
    runner.begin_pass()  # the next pass consumes the result that came meanwhile
    assert ask(runner, podinfo) == {PRE: (True,)}
    assert server.hits("/slow") == 1


def test_a_gate_running_since_an_earlier_pass_is_not_waited_for_again(
    server: GatedServer, runner: HookRunner, caplog: pytest.LogCaptureFixture
) -> None:
    runner.settle_s = 0.2
    slow = server.script("/slow", held(200))
    spec = canary("podinfo", f"{server.url}/slow")
    runner.begin_pass()
    assert ask(runner, spec) is None
    assert server.arrived("/slow", 1).wait(WAIT)
    with caplog.at_level(logging.INFO, logger="gitbot.webhooks"):
        assert settled(runner, "test/podinfo") == []
        runner.begin_pass()
        assert ask(runner, spec) is None
        assert settled(runner, "test/podinfo") == []  # nothing of this pass to wait for
    told = [r.getMessage() for r in caplog.records]
    assert told == ["test/podinfo: waiting on its webhooks (pre-rollout); their result counts "
                    "at its next tick"]  # once
    slow.set()


def test_a_changed_run_calls_afresh(server: GatedServer, runner: HookRunner) -> None:
    slow = server.script("/slow", held(500), 200)
    spec = canary("podinfo", f"{server.url}/slow")
    assert ask(runner, spec, run="r1") is None
    assert server.arrived("/slow", 1).wait(WAIT)
    assert ask(runner, spec, run="r2") is None  # another run: the old answer is not its own
    slow.set()
    assert settled(runner, "test/podinfo") == ["test/podinfo"]
    assert ask(runner, spec, run="r2") == {PRE: (True,)}
    assert server.hits("/slow") == 2


def test_the_gates_of_a_kind_stop_at_the_first_failure_and_rollback_asks_all(
    server: GatedServer, runner: HookRunner
) -> None:
    server.script("/no", 500)
    server.script("/yes", 200)
    gates = canary("podinfo", f"{server.url}/no", f"{server.url}/yes")
    rollback = canary("backend", f"{server.url}/no", f"{server.url}/yes",
                      kind=WebhookType.ROLLBACK)
    assert ask(runner, gates) is None
    assert ask(runner, rollback, WebhookType.ROLLBACK) is None
    assert sorted(settled(runner, "test/podinfo", "test/backend")) == ["test/backend",
                                                                       "test/podinfo"]
    assert ask(runner, gates) == {PRE: (False,)}
    assert ask(runner, rollback, WebhookType.ROLLBACK) == {WebhookType.ROLLBACK: (False, True)}


def test_the_calls_of_several_canaries_are_in_flight_together(
    server: GatedServer, runner: HookRunner
) -> None:
    one, two = server.script("/one", held(200)), server.script("/two", held(200))
    first, second = canary("first", f"{server.url}/one"), canary("second", f"{server.url}/two")
    both = threading.Event()

    def release_when_both_arrived() -> None:
        both.set() if (server.arrived("/one", 1).wait(WAIT)
                       and server.arrived("/two", 1).wait(WAIT)) else None
        one.set()
        two.set()

    releaser = threading.Thread(target=release_when_both_arrived, daemon=True)
    releaser.start()
    assert ask(runner, first) is None and ask(runner, second) is None
    assert sorted(settled(runner, "test/first", "test/second")) == ["test/first", "test/second"]
    releaser.join(WAIT)
    assert both.is_set()  # neither was answered before the other arrived
    assert ask(runner, first) == {PRE: (True,)} and ask(runner, second) == {PRE: (True,)}


def test_shutdown_does_not_wait_for_a_call_in_flight(server: GatedServer) -> None:
    slow = server.script("/slow", held(200))
    runner = HookRunner(workers=1, grace_s=0)
    spec, queued = canary("podinfo", f"{server.url}/slow"), canary("backend", f"{server.url}/q")
    assert ask(runner, spec) is None
    assert server.arrived("/slow", 1).wait(WAIT)
    assert ask(runner, queued) is None  # behind the held one: never started

    runner.shutdown()  # returns while the call is held

    threads = [t for t in threading.enumerate() if t.name.startswith("gitbot-hook-")]
    assert threads and all(t.daemon for t in threads)  # never hold the process' exit
    slow.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert server.hits("/q") == 0  # the queued call was cancelled


def test_a_webhook_timeout_is_capped_by_the_config(server: GatedServer) -> None:
    slow = server.script("/slow", held(200))
    runner = HookRunner(max_timeout_s=0.3, grace_s=0)  # webhooks.maxTimeout; the hook: 30 s
    spec = canary("podinfo", f"{server.url}/slow")
    try:
        assert ask(runner, spec) is None
        assert settled(runner, "test/podinfo") == ["test/podinfo"]  # before the server answers
        found = runner.results(spec, (PRE,), "Progressing", "sum", "r1")
        assert found is not None
        assert [(r.passed, r.message) for r in found[PRE]] == [(False, "timeout after 0.3s")]
    finally:
        slow.set()
        runner.shutdown()


def test_a_fast_gate_is_used_by_the_tick_that_called_it(server: GatedServer) -> None:
    """Within the pass' grace a tick waits for its own calls: no second tick needed."""
    runner = HookRunner(grace_s=WAIT)
    slow = server.script("/slow", held(200))
    server.script("/fast", 500)
    try:
        runner.begin_pass()
        assert ask(runner, canary("backend", f"{server.url}/fast")) == {PRE: (False,)}
        slow_spec = canary("podinfo", f"{server.url}/slow")
        runner.grace_s = 0.2
        runner.begin_pass()
        assert ask(runner, slow_spec) is None  # held past the grace: waiting
    finally:
        slow.set()
        runner.shutdown()
