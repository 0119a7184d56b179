"""`/readyz` names the instance that leads (issue 11: "`/readyz` says which instance leads").

A real `gitbot run` process against a bare remote whose lease another instance (`pod-b`, a
LeaseKeeper in this test with its own working copy) holds: the daemon is ready, says `leader:
pod-b` and does not act; once pod-b hands the lease back, the daemon takes it, says so with
`(this instance)` and initializes the canary. Waits poll /readyz and the remote until the condition
holds, with a timeout. The process (tests/daemonproc.py: port 0, its log in a file) is ended
with SIGKILL: the graceful exit is test_daemon.py's and test_daemon_signals.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from daemonproc import LISTEN_ANY, DaemonProcess, spawn, wait_for

from gitbot.adapters.git import GitWorkspace
from gitbot.lease import LeaseKeeper
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo


def _readyz(daemon: DaemonProcess) -> tuple[int, str]:
    try:
        reply = requests.get(daemon.url("/readyz"), timeout=2)
    except requests.ConnectionError:
        return 0, ""
    return reply.status_code, reply.text


@pytest.fixture
def dev(tmp_path: Path) -> Developer:
    return create_gitops_repo(tmp_path, options=CanaryOptions())


@pytest.fixture
def other(tmp_path: Path, dev: Developer) -> Iterator[LeaseKeeper]:
    """Another instance, pod-b, holding the lease for ten minutes."""
    with GitWorkspace(str(dev.remote), "main", tmp_path / "pod-b") as ws:
        ws.sync()
        keeper = LeaseKeeper(ws, "gitbot/state", duration=600, skew=0, identity="pod-b")
        assert keeper.step()
        yield keeper


@pytest.mark.timeout(300)
def test_readyz_says_who_leads_and_a_passive_instance_does_not_act(
    tmp_path: Path, dev: Developer, other: LeaseKeeper
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: work\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
        f"daemon:\n  listen: {LISTEN_ANY}\n  passInterval: 1\n"
        "lease:\n  duration: 3s\n  clockSkew: 0s\n", encoding="utf-8")
    daemon = spawn(config, tmp_path / "daemon.log")
    try:
        wait_for("ready, naming pod-b", lambda: _readyz(daemon) == (200, "ready\nleader: pod-b\n"),
                 timeout=90)
        assert not any("initialize" in s for s in dev.log_subjects()), "a passive instance acted"
        other.release()
        wait_for("the takeover", lambda: _readyz(daemon)[1].endswith(" (this instance)\n"),
                 timeout=90)
        code, text = _readyz(daemon)
        [ready, leader] = text.splitlines()
        assert (code, ready) == (200, "ready")
        assert leader.startswith("leader: ") and leader != "leader: pod-b", leader
        wait_for("the first step", lambda: any("initialize" in s for s in dev.log_subjects()),
                 timeout=90)
    finally:
        daemon.kill()
    assert "leads now" in daemon.text()
