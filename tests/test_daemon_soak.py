"""What a long-running daemon repeats: the rescan's cost after a clean pass.

A real daemon over a real repository and a stand-in Prometheus on 127.0.0.1, its jobs called
in-process (the scheduler is never started); git processes are counted where GitPython starts
them. The soak benchmark (`bench/soak.py`) measures the same cycle over 10,000 passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git.cmd
import pytest
from promstub import PromStub

from gitbot.config import load_settings
from gitbot.daemon import Daemon
from gitbot.sim.gitops import create_gitops_repo
from gitbot.wiring import build_app


@pytest.fixture
def git_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The subcommand of every git process started from now on."""
    seen: list[str] = []
    popen = git.cmd.safer_popen

    def counted(args: Any, *rest: Any, **kwargs: Any) -> Any:
        argv = [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
        if argv and argv[0].endswith("git"):
            seen.append(next((a for a in argv[1:] if not a.startswith("-")), ""))
        return popen(args, *rest, **kwargs)

    monkeypatch.setattr(git.cmd, "safer_popen", counted)
    return seen


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, Any]]:
    dev = create_gitops_repo(tmp_path)
    with PromStub(dev.remote) as prom:
        config = tmp_path / "config.yaml"
        config.write_text(f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
                          f"prometheus:\n  url: {prom.url}\n  timeout: 5\n"
                          "lease:\n  enabled: false\n", encoding="utf-8")
        d = Daemon(build_app(load_settings(config)))
        try:
            yield d, dev
        finally:
            d.app.close()


def test_the_rescan_after_a_clean_pass_is_one_fetch_and_follows_the_remote(
    daemon: tuple[Daemon, Any], git_commands: list[str],
) -> None:
    d, dev = daemon
    d.rescan()  # the first sync of a working copy not known clean: a full reset
    assert {"fetch", "reset", "clean"} <= set(git_commands)
    d.cycle()  # the canary's first pass (bootstrap), without errors
    assert d.app.reconciler.repo.head == d.app.workspace.head()

    git_commands.clear()
    d.rescan()
    assert git_commands == ["fetch"]  # not checkout + reset --hard + clean -ffdx every rescan

    head = dev.release("6.0.1")
    d.rescan()  # the remote moved: the working copy is reset to it
    assert d.app.reconciler.repo.head == head == d.app.workspace.head()
    assert d.app.reconciler.history.head == head  # the log follows too
    assert (d.app.workspace.root / "apps/podinfo/deployment.yaml").read_text().count("6.0.1")
