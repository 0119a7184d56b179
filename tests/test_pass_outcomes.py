"""What one `gitbot reconcile --once` process reports: a failing canary costs only its own tick
(one log line with the cause, the traceback only at -vv), and the exit status says whether a
push was refused (3) or a document is invalid (2). Real processes against real bare remotes;
Prometheus is a closed port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_state_rebuild import Rig, git

from gitbot.core.state import RolloutState

BROKEN_CANARY = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: broken
  namespace: test
spec:
  analysis:
    interval: soon
"""


def reconcile(rig: Rig, *flags: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gitbot", *flags, "--config", str(rig.config), "reconcile",
           "--once"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ))


@pytest.fixture
def failing(tmp_path: Path) -> Rig:
    """podinfo's tick raises an unexpected error: its state is lost and a person wrote a
    VirtualService weight that is not a number, which the rebuild cannot read."""
    rig = Rig.start(tmp_path)
    rig.to_phase("progressing-20")
    rig.delete_state_branch()
    routing = "apps/podinfo/podinfo-routing.yaml"
    text = rig.dev.read(routing)
    rig.dev.commit_files({routing: text.replace("weight: 20", "weight: lots")}, "Oops")
    return rig


def test_an_unexpected_error_costs_one_canary_once_without_traceback(failing: Rig) -> None:
    done = reconcile(failing)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("test/backend: Initialized — committed ")  # the other moved on
    assert lines[1].startswith("test/podinfo:  — error: ValueError: invalid literal for int()")
    failures = [line for line in done.stderr.splitlines() if "tick failed" in line]
    assert len(failures) == 1 and "test/podinfo: tick failed: ValueError" in failures[0]
    assert "Traceback" not in done.stderr
    git(failing.app.workspace.root, "diff", "--quiet", "HEAD")  # the working copy is clean


def test_the_traceback_of_an_unexpected_error_shows_at_debug(failing: Rig) -> None:
    done = reconcile(failing, "-vv")

    assert done.returncode == 0
    assert "Traceback" in done.stderr and "ValueError" in done.stderr


def test_push_refused_exits_3(tmp_path: Path) -> None:
    rig = Rig.start(tmp_path)
    hook = rig.dev.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n"
                    "  [ \"$ref\" = refs/heads/main ] && echo 'main is protected' && exit 1\n"
                    "done\nexit 0\n", encoding="utf-8")
    hook.chmod(0o755)

    done = reconcile(rig)

    assert done.returncode == 3, done.stdout + done.stderr
    assert "error: the remote refused the push" in done.stdout
    assert "Traceback" not in done.stderr
    # the step and its state go in one atomic push (gitbot.pass_batch): refused together, so
    # the state branch claims nothing the branch lacks and the next pass decides again
    assert rig.state == RolloutState()
    assert "Gitbot-Canary" not in git(rig.dev.remote, "log", "-1", "--format=%B", "main")


def test_invalid_document_exits_2_after_the_pass(tmp_path: Path) -> None:
    rig = Rig.start(tmp_path)
    rig.dev.commit_files({"apps/broken/canary.yaml": BROKEN_CANARY}, "Add a broken canary")

    done = reconcile(rig)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid: apps/broken/canary.yaml:" in done.stderr
    assert "test/podinfo: Initialized — committed " in done.stdout  # the valid ones still ran
