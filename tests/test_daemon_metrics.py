"""gitbot's own series on /metrics (issue 11: commits, Git errors, tick errors and durations,
besides Flagger's): a Daemon wired to a real bare remote, its jobs called directly (no scheduler,
no signal handling), the registry read as Prometheus would scrape it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitbot.config import load_settings
from gitbot.daemon import Daemon
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.wiring import build_app

KEY = "test/podinfo"


def _value(daemon: Daemon, series: str, **labels: str) -> float | None:
    text = generate_latest(daemon.metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == series and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.fixture
def dev(tmp_path: Path) -> Developer:
    return create_gitops_repo(tmp_path, options=CanaryOptions())


@pytest.fixture
def daemon(tmp_path: Path, dev: Developer) -> Iterator[Daemon]:
    config = tmp_path / "config.yaml"
    config.write_text(f"git:\n  url: {dev.remote}\n  workdir: work\n"
                      "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
                      "lease:\n  enabled: false\n", encoding="utf-8")
    daemon = Daemon(build_app(load_settings(config)))
    try:
        yield daemon
    finally:
        daemon.app.close()


def test_a_tick_that_commits_is_counted_and_timed(daemon: Daemon, dev: Developer) -> None:
    daemon.rescan()
    assert _value(daemon, "gitbot_tick_duration_seconds_count") == 0
    daemon.tick(KEY)  # the initialization: one commit, no Prometheus needed
    assert any("initialize" in s for s in dev.log_subjects())
    assert _value(daemon, "gitbot_commits_total", namespace="test", name="podinfo") == 1
    assert _value(daemon, "gitbot_tick_duration_seconds_count") == 1
    assert _value(daemon, "gitbot_tick_errors_total", namespace="test", name="podinfo") in (
        None, 0)
    assert _value(daemon, "gitbot_git_errors_total") == 0


def test_a_refused_push_is_a_tick_error(daemon: Daemon, dev: Developer) -> None:
    daemon.rescan()
    hook = dev.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)
    daemon.tick(KEY)
    assert _value(daemon, "gitbot_tick_errors_total", namespace="test", name="podinfo") == 1
    assert _value(daemon, "gitbot_commits_total", namespace="test", name="podinfo") in (None, 0)


def test_a_failed_sync_is_a_git_error(daemon: Daemon, dev: Developer) -> None:
    daemon.rescan()
    assert _value(daemon, "gitbot_git_errors_total") == 0
    moved = dev.remote.with_name("moved.git")
    dev.remote.rename(moved)
    daemon.rescan()
    assert _value(daemon, "gitbot_git_errors_total") == 1
    assert daemon.health.problem().startswith("repository sync failing: ")
    moved.rename(dev.remote)
    daemon.rescan()
    assert _value(daemon, "gitbot_git_errors_total") == 1
    assert daemon.health.problem() == ""
