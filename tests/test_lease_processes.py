"""Two real `gitbot run` processes on one bare remote: one leads, the other stays passive; the
leader is killed with SIGKILL mid-rollout, the follower takes the lease over after it expired and
finishes the rollout. Every `Gitbot-Step` appears exactly once on `main` and none is missing.

The cluster is the stand-in Prometheus (gitbot/sim/promstub.py): Flux has applied the remote's
head, every Deployment is ready, the metrics are healthy. Waits poll the remote and /leader until
the condition holds, with a timeout. Each daemon listens on port 0 and the test reads the port it
bound from its log (tests/daemonproc.py), so no port is picked in advance.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonproc import LISTEN_ANY, DaemonProcess, spawn

from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.sim.promstub import PromStub


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _git(remote: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=remote, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


@dataclass
class Instance:
    name: str
    daemon: DaemonProcess

    @property
    def proc(self) -> subprocess.Popen[str]:
        return self.daemon.proc

    @property
    def log(self) -> Path:
        return self.daemon.log

    @property
    def port(self) -> int:
        return self.daemon.port()

    def leader(self) -> dict[str, Any] | None:
        try:
            reply = requests.get(f"http://127.0.0.1:{self.port}/leader", timeout=2)
        except requests.ConnectionError:
            return None
        data: dict[str, Any] = reply.json()
        return data

    def leading(self) -> bool:
        info = self.leader()
        return bool(info and info["leading"])

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text

    def healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).ok
        except requests.ConnectionError:
            return False


def _start(tmp_path: Path, name: str, remote: Path, prometheus: str) -> Instance:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"git:\n  url: {remote}\n  workdir: {tmp_path / name}\n"
        f"prometheus:\n  url: {prometheus}\n  timeout: 2\n"
        f"daemon:\n  listen: {LISTEN_ANY}\n  passInterval: 2\n"
        "lease:\n  duration: 6s\n  clockSkew: 0s\n",
        encoding="utf-8",
    )
    return Instance(name, spawn(config, tmp_path / f"{name}.log"))


@pytest.fixture
def rollout(tmp_path: Path) -> Iterator[tuple[Developer, list[Instance]]]:
    dev = create_gitops_repo(tmp_path, options=CanaryOptions(step_weight=25, max_weight=50))
    with ExitStack() as stack:
        stub = stack.enter_context(PromStub(dev.remote))
        instances = [_start(tmp_path, name, dev.remote, stub.url) for name in ("one", "two")]
        try:
            yield dev, instances
        finally:
            for instance in instances:
                _stop(instance)


def _stop(instance: Instance) -> int:
    """SIGTERM and wait; SIGKILL when it does not exit (never leave a daemon behind)."""
    return instance.daemon.stop(timeout=60)


def _steps(remote: Path) -> list[int]:
    out = _git(remote, "log", "--format=%(trailers:key=Gitbot-Step,valueonly)", "main")
    return [int(line) for line in out.split()]


def _state(remote: Path) -> dict[str, Any]:
    text = _git(remote, "cat-file", "blob", "gitbot/state:canaries/test/podinfo.json")
    return dict(json.loads(text)) if text else {}


def _phase(remote: Path) -> str:
    return str(_state(remote).get("phase", ""))


def _lease_holder(remote: Path) -> str:
    text = _git(remote, "cat-file", "blob", "gitbot/state:lease.json")
    return str(json.loads(text)["holder"]) if text else ""


@pytest.mark.timeout(300)
def test_two_processes_never_both_act_and_the_follower_takes_over(
    rollout: tuple[Developer, list[Instance]],
) -> None:
    dev, instances = rollout
    _wait("both instances serving", lambda: all(i.healthy() for i in instances))
    _wait("one leader", lambda: sum(i.leading() for i in instances) == 1)
    leader = next(i for i in instances if i.leading())
    follower = next(i for i in instances if i is not leader)
    passive = follower.leader()
    assert passive is not None and passive["holder"] == _lease_holder(dev.remote)
    assert passive["holder"] == leader.leader()["identity"]  # type: ignore[index]
    assert "gitbot_lease_leader 1.0" in leader.metrics()
    assert "gitbot_lease_leader 0.0" in follower.metrics()

    _wait("initialization landed", lambda: _state(dev.remote).get("phase") == "Initialized"
          and _state(dev.remote).get("pending") is None and _steps(dev.remote) == [1])
    dev.release("6.0.1")
    _wait("the first advance (step 3)", lambda: len(_steps(dev.remote)) >= 3)
    steps_before_kill = _steps(dev.remote)
    leader.proc.send_signal(signal.SIGKILL)
    leader.proc.wait(timeout=30)

    _wait("the follower takes over", follower.leading, timeout=60)
    assert _lease_holder(dev.remote) == follower.leader()["identity"]  # type: ignore[index]
    _wait("the rollout to finish", lambda: _phase(dev.remote) == "Succeeded", timeout=180)

    steps = sorted(_steps(dev.remote))
    assert len(steps) > len(steps_before_kill)
    assert steps == list(range(1, len(steps) + 1)), steps  # each step once, none lost
    assert "leads now" in follower.log.read_text()
    code = _stop(follower)
    assert code == 0, follower.log.read_text()[-3000:]
    assert "signal 15: finishing the step in progress" in follower.daemon.messages()
    assert _lease_holder(dev.remote) == ""  # released on SIGTERM
