"""The daemon's health rule (table of transitions) and its shutdown: nothing new starts after
SIGTERM's `shutdown()`, and a step still running after the grace period is reported at once.
In-process, with a real repository and a real trickling Prometheus on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from slowservers import TricklingServer

from gitbot.adapters.redact import forget_secrets
from gitbot.config import load_settings
from gitbot.daemon import FAILED_TICKS, Daemon, Health
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo
from gitbot.wiring import build_app

OK, FAIL = "", "push refused"


def _replay(steps: list[tuple[str, ...]]) -> str:
    health = Health()
    for step in steps:
        if step[0] == "sync":
            health.synced(step[1] if len(step) > 1 else "")
        elif step[0] == "canaries":
            health.canaries(set(step[1:]))
        else:
            _, key, error = step
            health.ticked(key, error)
    return health.problem()


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([], "repository not synced yet", id="starting"),
        pytest.param([("sync",)], "", id="synced-no-canaries"),
        pytest.param([("sync", "cannot reach origin")], "cannot reach origin",
                     id="sync-failing"),
        pytest.param([("sync",), ("canaries", "a")] + [("tick", "a", FAIL)] * (FAILED_TICKS - 1),
                     "", id="not-yet-enough-failures"),
        pytest.param([("sync",), ("canaries", "a")] + [("tick", "a", FAIL)] * FAILED_TICKS,
                     f"every canary failed its last {FAILED_TICKS} ticks (a: push refused)",
                     id="only-canary-keeps-failing"),
        pytest.param([("sync",), ("canaries", "a", "b")] + [("tick", "a", FAIL)] * 5,
                     "", id="one-of-two-failing-is-its-own-problem"),
        pytest.param([("sync",), ("canaries", "a", "b")]
                     + [("tick", "a", FAIL), ("tick", "b", "git conflict")] * FAILED_TICKS,
                     f"every canary failed its last {FAILED_TICKS} ticks "
                     "(a: push refused; b: git conflict)", id="every-canary-failing"),
        pytest.param([("sync",), ("canaries", "a")] + [("tick", "a", FAIL)] * FAILED_TICKS
                     + [("tick", "a", OK)], "", id="a-success-heals"),
        pytest.param([("sync",), ("canaries", "a", "b")] + [("tick", "a", FAIL)] * FAILED_TICKS
                     + [("canaries", "a")],
                     f"every canary failed its last {FAILED_TICKS} ticks (a: push refused)",
                     id="healthy-canary-removed"),
        pytest.param([("sync",), ("canaries", "a"), ("tick", "gone", FAIL)], "",
                     id="unknown-canary-ignored"),
        pytest.param([("sync", "down"), ("canaries", "a")] + [("tick", "a", OK)] * 3, "down",
                     id="sync-failure-wins-over-good-ticks"),
    ],
)
def test_health_rule(steps: list[tuple[str, ...]], expected: str) -> None:
    problem = _replay(steps)
    assert (expected in problem) if expected else problem == "", problem


def test_health_reason_masks_credentials() -> None:
    forget_secrets()
    health = Health()
    health.synced("fetch https://bot:" + "pa55word@git.example/x?access_token=abc123 failed")
    assert health.problem() == "fetch https://***@git.example/x?access_token=*** failed"


def test_shutdown_starts_nothing_new_and_reports_a_step_past_its_grace(tmp_path: Path) -> None:
    # a Prometheus that trickles its answer holds the tick in progress (its readiness query,
    # bounded by prometheus.timeout, 20 s); event webhooks no longer can: they are sent in the
    # background (tests/test_event_delivery.py)
    with TricklingServer("body") as slow:
        dev = create_gitops_repo(tmp_path, options=CanaryOptions())
        config = tmp_path / "config.yaml"
        config.write_text(
            f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
            f"prometheus:\n  url: {slow.url}\n  timeout: 20\n", encoding="utf-8")
        daemon = Daemon(build_app(load_settings(config)))
        worker = threading.Thread(target=daemon.tick, args=["test/podinfo"])
        worker.start()
        assert slow.started.wait(60), "Prometheus was never queried"
        started = time.monotonic()
        assert daemon.shutdown(grace_s=0.5) is False
        assert time.monotonic() - started < 5  # the grace, not the query's 20 s
        hits = len(slow.hits)
        daemon.tick("test/podinfo")  # a job that starts after shutdown does nothing
        daemon.rescan()
        assert len(slow.hits) == hits
    worker.join(30)  # the trickle ended with the server: the step finishes
    assert not worker.is_alive()
    daemon.app.close()
