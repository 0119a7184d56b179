"""What a long-running daemon repeats must not pile up: the rescan's cost after a clean pass,
the pack files a step's commit read once `git gc` deleted them.

A real daemon over a real repository and a stand-in Prometheus on 127.0.0.1, its jobs called
in-process (the scheduler is never started); git processes are counted where GitPython starts
them, open files read from /proc. The soak benchmark (`bench/soak.py`) measures the same cycle
over 10,000 passes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from git import cmd as git_cmd
from gitfixtures import git, make_remote, write

from gitbot.adapters.git import GitWorkspace
from gitbot.config import load_settings
from gitbot.daemon import Daemon
from gitbot.sim.gitops import create_gitops_repo
from gitbot.sim.promstub import PromStub
from gitbot.wiring import build_app


@pytest.fixture
def git_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The subcommand of every git process started from now on."""
    seen: list[str] = []
    popen = git_cmd.safer_popen

    def counted(args: Any, *rest: Any, **kwargs: Any) -> Any:
        argv = [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
        if argv and argv[0].endswith("git"):
            seen.append(next((a for a in argv[1:] if not a.startswith("-")), ""))
        return popen(args, *rest, **kwargs)

    monkeypatch.setattr(git_cmd, "safer_popen", counted)
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


def deleted_files_open(under: Path) -> list[str]:
    """Files under `under` this process holds open although they were deleted."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed meanwhile
            continue
        if target.startswith(str(under)) and target.endswith("(deleted)"):
            found.append(target)
    return found


def test_a_step_commit_keeps_no_pack_open_after_git_gc_deleted_it(tmp_path: Path) -> None:
    """A step's commit reads its parent's tree through gitdb, which maps the pack files; once
    `git gc` (git runs it by itself now and then) repacked, the old pack is deleted and must not
    stay open: over a daemon's life that is descriptors, memory and disk space without end."""
    remote = make_remote(tmp_path)
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as ws:
        ws.sync()
        for n in range(3):
            git(ws.root, "gc", "-q")  # everything in one pack; the previous pack is deleted
            write(ws.root, "apps/podinfo/vs.yaml", f"route:\n  primary: {90 - n}\n")
            assert ws.commit(f"step {n}", paths=["apps/podinfo/vs.yaml"])
        git(ws.root, "gc", "-q")
        assert deleted_files_open(ws.root) == []
        assert git(ws.root, "log", "--format=%s", "-3").splitlines() == [
            "step 2", "step 1", "step 0"]


def test_a_pass_goes_on_committing_after_git_gc_packed_its_objects(tmp_path: Path) -> None:
    """Within a pass the object writer lives across commits; a `git gc --auto` that a `git
    commit` of the same pass starts (at 1,000 canaries the bootstrap pass crosses git's 6,700
    loose objects) packs and deletes the loose objects: the next step's parent is then only in a
    pack the writer had not listed. It used to fail every later canary with BadObject."""
    remote = make_remote(tmp_path)
    with GitWorkspace(str(remote), "main", tmp_path / "work", author_name="bot",
                      author_email="bot@example.com") as ws:
        ws.sync()
        with ws.deferred_index():
            for n in range(3):
                write(ws.root, "apps/podinfo/vs.yaml", f"route:\n  primary: {90 - n}\n")
                assert ws.commit(f"step {n}", paths=["apps/podinfo/vs.yaml"])  # no git process
                write(ws.root, f"apps/app{n}/deployment.yaml", "replicas: 0\n")  # a new file:
                assert ws.commit(f"init {n}", paths=[f"apps/app{n}/deployment.yaml"])  # by git
                git(ws.root, "gc", "-q", "--prune=now")  # every object packed, loose ones gone
        assert git(ws.root, "log", "--format=%s", "-6").splitlines() == [
            "init 2", "step 2", "init 1", "step 1", "init 0", "step 0"]
        assert git(ws.root, "status", "--porcelain") == ""
