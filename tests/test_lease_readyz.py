"""`/readyz` names the instance that leads (issue 11: "`/readyz` says which instance leads").

A real `gitbot run` process against a bare remote whose lease another instance (`pod-b`, a
LeaseKeeper in this test with its own working copy) holds: the daemon is ready, says `leader:
pod-b` and does not act; once pod-b hands the lease back, the daemon takes it, says so with
`(this instance)` and initializes the canary. Waits poll /readyz and the remote until the condition
holds, with a timeout. The process is ended with SIGKILL: the graceful exit is test_daemon.py's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from gitbot.adapters.git import GitWorkspace
from gitbot.lease import LeaseKeeper
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _readyz(port: int) -> tuple[int, str]:
    try:
        reply = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
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
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: work\n"
        f"prometheus:\n  url: http://127.0.0.1:{_free_port()}\n  timeout: 1\n"
        f"daemon:\n  listen: 127.0.0.1:{port}\n  passInterval: 1\n"
        "lease:\n  duration: 3s\n  clockSkew: 0s\n", encoding="utf-8")
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gitbot", "--config", str(config), "run"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait("ready, naming pod-b", lambda: _readyz(port) == (200, "ready\nleader: pod-b\n"))
        assert not any("initialize" in s for s in dev.log_subjects()), "a passive instance acted"
        other.release()
        _wait("the takeover", lambda: _readyz(port)[1].endswith(" (this instance)\n"))
        code, text = _readyz(port)
        [ready, leader] = text.splitlines()
        assert (code, ready) == (200, "ready")
        assert leader.startswith("leader: ") and leader != "leader: pod-b", leader
        _wait("the first step", lambda: any("initialize" in s for s in dev.log_subjects()))
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert "leads now" in log.read_text(encoding="utf-8")
