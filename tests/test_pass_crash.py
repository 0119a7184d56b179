"""A busy pass killed mid-way (a real process, `GITBOT_CRASH_AT=after-commit:3`): its commits
were local and the index lagged them (it is brought in step once, at the end of the pass);
nothing was public. The restarted gitbot's pass repairs the working copy, makes every
canary's step exactly once, publishes them in one push and leaves `git status` clean.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gitfixtures import git
from scaleworld import initialized, stepping_repo

from bench.scale import make_app, release_all
from gitbot.sim.promstub import PromStub

CANARIES = 4
ROOT = Path(__file__).resolve().parent.parent

PASS = textwrap.dedent("""
    import sys
    from datetime import datetime
    from pathlib import Path
    from bench.scale import FakeClock, make_app
    base, remote, url, now = sys.argv[1:5]
    clock = FakeClock()
    clock.now = datetime.fromisoformat(now)
    make_app(Path(base), Path(remote), url, clock).reconciler.run_pass()
""")


def _steps(remote: Path) -> list[str]:
    """The Gitbot-Canary trailer of every gitbot commit on main, newest first."""
    out = git(remote, "log", "--format=%(trailers:key=Gitbot-Canary,valueonly)%x1e", "main")
    return [c.strip() for c in out.split("\x1e") if c.strip()]


def test_a_pass_killed_after_a_commit_recovers_on_restart(tmp_path: Path) -> None:
    dev = stepping_repo(tmp_path, CANARIES)
    with PromStub(dev.remote) as prom:
        with initialized(tmp_path, dev, prom.url) as (_app, clock):
            pass  # closed before the killed pass runs in its own process
        release_all(dev, CANARIES)
        before, published = _steps(dev.remote), git(dev.remote, "rev-parse", "main")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GITBOT_CRASH_AT": "after-commit:3"}
        done = subprocess.run(
            [sys.executable, "-c", PASS, str(tmp_path), str(dev.remote), prom.url,
             clock.now.isoformat()], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 86, done.stderr
        work = tmp_path / "work"
        assert git(work, "rev-list", "--count", f"{published}..main") == "3"
        assert len(git(work, "status", "--porcelain").splitlines()) == 3  # the index lags
        assert git(dev.remote, "rev-parse", "main") == published  # nothing public

        again = make_app(tmp_path, dev.remote, prom.url, clock)  # the restart
        try:
            report = again.reconciler.run_pass()
            assert not any(t.error for t in report.ticks)
            assert all(t.commit for t in report.ticks) and len(report.ticks) == CANARIES
            states = [again.store.load(t.canary) for t in report.ticks]
        finally:
            again.close()
    new = _steps(dev.remote)[: len(_steps(dev.remote)) - len(before)]
    assert sorted(new) == sorted(t.canary for t in report.ticks)  # each once
    assert all(s is not None and s.pending is None for s in states)
    assert git(work, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(work, "rev-parse", "HEAD") == git(dev.remote, "rev-parse", "main")
