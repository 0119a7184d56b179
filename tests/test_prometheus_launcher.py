"""Tests for gitbot.sim.prometheus: a real Prometheus scrapes a local exporter and stops cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from promfixtures import Exporter, SyntheticSeries

from gitbot.sim.prometheus import (
    BINARY_ENV,
    PrometheusNotFound,
    PrometheusServer,
    PrometheusStartError,
    find_prometheus,
    scrape_config,
)


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr("gitbot.sim.prometheus._FALLBACK_BINARY", "/nonexistent/prometheus")
    with pytest.raises(PrometheusNotFound, match="sudo apt-get install prometheus"):
        PrometheusServer(["127.0.0.1:1"])


def test_env_override_must_be_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BINARY_ENV, str(tmp_path / "nothing"))
    with pytest.raises(PrometheusNotFound, match=BINARY_ENV):
        find_prometheus()


def test_scrape_config_every_second() -> None:
    text = scrape_config(["127.0.0.1:8000", "127.0.0.1:8001"])
    assert "scrape_interval: 1s" in text and "evaluation_interval: 1s" in text
    assert 'targets: ["127.0.0.1:8000", "127.0.0.1:8001"]' in text


@pytest.mark.prometheus
def test_start_scrape_query_stop() -> None:
    series = SyntheticSeries()
    series.gauge("launcher_probe", {"job_hint": "x"}, 42.0)
    exporter = Exporter(series)
    try:
        try:
            server = PrometheusServer([exporter.target]).start()
        except PrometheusNotFound as exc:
            pytest.skip(str(exc))
        workdir = server._dir
        pid = server.pid
        try:
            assert server.url.startswith("http://127.0.0.1:")
            result = server.wait_for_data("launcher_probe", timeout=30)
            assert float(result[0]["value"][1]) == 42.0
        finally:
            server.stop()
    finally:
        exporter.close()
    assert pid is not None and not os.path.exists(f"/proc/{pid}")
    assert workdir is not None and not workdir.exists()
    assert not server.running


@pytest.mark.prometheus
def test_wait_for_data_times_out_on_absent_series() -> None:
    try:
        server = PrometheusServer([]).start()
    except PrometheusNotFound as exc:
        pytest.skip(str(exc))
    with server, pytest.raises(TimeoutError, match="never_exported"):
        server.wait_for_data("never_exported", timeout=0.5)


@pytest.mark.prometheus
def test_early_exit_reports_log_lines() -> None:
    try:
        broken = PrometheusServer([], scrape_interval="soon")
    except PrometheusNotFound as exc:
        pytest.skip(str(exc))
    with pytest.raises(PrometheusStartError, match="exited early") as caught:
        broken.start()
    assert "not a valid duration string" in str(caught.value)  # the log line saying why
    assert not broken.running and broken._dir is None


@pytest.mark.prometheus
def test_servers_started_together_each_get_their_own_port() -> None:
    try:
        first = PrometheusServer([]).start()
    except PrometheusNotFound as exc:
        pytest.skip(str(exc))
    with first, PrometheusServer([]) as second:
        assert first.port and second.port and first.port != second.port
        assert "--web.listen-address=127.0.0.1:0" in second._command(Path("p.yml"))
