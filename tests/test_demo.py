"""`gitbot demo` runs to the end as a newcomer would start it, and shows its three stories
(the last one in pull-request mode, with the promotion PR's body)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]


def test_demo_runs_to_the_end() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gitbot", "demo", "--fast"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for text in (
        "podinfo.test: promote: copy podinfo template spec to podinfo-primary",
        "Rolling back podinfo.test failed checks threshold reached 5",
        "podinfo-primary still runs ghcr.io/stefanprodan/podinfo:6.0.1",
        "Act 3: git.mode pull-request (local forge): every change is a PR",
        "gitbot proposes to promote `test/podinfo`",
        "## How to decide",
        "approved the promotion of test/podinfo",
        "podinfo.test: scale down canary (#",
    ):
        assert text in out, out
    # the scale-up and each weight step that landed before the fifth failed check (see
    # test_e2e_rollouts.test_rollback_on_errors_reverts_commits)
    assert re.search(r"podinfo\.test: rollback: revert [2-6] commits \(failed checks threshold "
                     r"reached 5\)", out), out
    assert "Traceback" not in proc.stderr
    bottoms = [line for line in out.splitlines() if line.startswith("└")]
    assert len(bottoms) >= 4, out  # the live tables of the acts and the status tables
    for line in bottoms:  # stdout is a pipe here: each table still ends its own line
        assert line.rstrip().endswith("┘"), line
