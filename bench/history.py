"""History benchmark: the branch log in memory (`HistoryIndex`) under a busy pass and a long run.

Run from a checkout: `.venv/bin/python bench/history.py` (options: `--canaries 300,1000`,
`--passes 40`). Everything is local: a workspace over a bare remote in a temporary directory,
commits written with one `git fast-import` each (gitbot's trailers, no files).

Prints
- busy pass over N canaries, each with one commit: the N ticks' lookups (`tick_history`), as
  the reconciler's tick asks them, with the `stop` calls they cost (the commits examined), and
  what reading each canary's last commit out of the history looked up then costs (the drift
  check of an active canary does that; it still walks the whole history looked up);
- long run: an idle canary whose last commit recedes while 5 busy canaries and a person add
  50 commits per pass: the commits the index keeps after each pass, and its `git log` reads.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitbot import history as history_module
from gitbot.adapters.git import GitWorkspace
from gitbot.history import for_cluster, last_gitbot_commit, tick_history
from gitbot.history_index import HistoryIndex
from gitbot.sim.gitops import create_gitops_repo


def message(key: str, step: int, action: str = "advance") -> str:
    return (f"{key}: step {step}\n\nGitbot-Canary: {key}\nGitbot-Step: {step}\n"
            f"Gitbot-Action: {action}\n")


def fast_import(root: Path, messages: list[str]) -> None:
    """Empty commits on main with these messages, in one `git fast-import`."""
    run = lambda *a: subprocess.run(["git", *a], cwd=root, check=True,  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    parent, stamp = run("rev-parse", "HEAD"), int(run("log", "-1", "--format=%ct"))
    chunks = []
    for n, text in enumerate(messages):
        data = text.encode()
        chunks.append(f"commit refs/heads/main\ncommitter Bot <bot@example.com> "
                      f"{stamp + n + 1} +0000\ndata {len(data)}\n".encode() + data + b"\n"
                      + (f"from {parent}\n".encode() if n == 0 else b"") + b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(chunks),
                   check=True, capture_output=True)


class Counted:
    """Counts `history.is_for`, which every lookup's `stop` asks of each commit examined."""

    def __init__(self) -> None:
        self.calls = 0
        self._original = history_module.is_for

        def is_for(*args: object, **kwargs: object) -> bool:
            self.calls += 1
            return self._original(*args, **kwargs)  # type: ignore[arg-type]

        history_module.is_for = is_for  # type: ignore[assignment]


def busy_pass(base: Path, canaries: int, counted: Counted) -> None:
    (base / f"busy{canaries}").mkdir()
    dev = create_gitops_repo(base / f"busy{canaries}")
    with GitWorkspace(str(dev.remote), "main", base / f"busy{canaries}/w") as ws:
        ws.sync()
        keys = [f"ns{i}/app{i}" for i in range(canaries)]
        fast_import(ws.root, [message(key, 1, "scale-up") for key in keys])
        index = HistoryIndex(ws)
        index.update(ws.head())
        tick_history(index, keys[0], None)  # the log read once, as the pass' first tick does
        calls, began = counted.calls, time.perf_counter()
        for key in keys:
            tick_history(index, key, None)
        seconds = time.perf_counter() - began
        examined, began = counted.calls - calls, time.perf_counter()
        for key in keys:  # what an active canary's drift check then does with its history
            last_gitbot_commit(for_cluster(tick_history(index, key, None), None), key)
        using = time.perf_counter() - began - seconds
        print(f"busy pass, {canaries:>5} canaries: lookups {seconds * 1000:8.1f} ms, "
              f"commits examined {examined:>9,}; the ticks' last_gitbot_commit over "
              f"them {using * 1000:7.1f} ms", flush=True)


def long_run(base: Path, passes: int) -> None:
    (base / "long").mkdir()
    dev = create_gitops_repo(base / "long")
    with GitWorkspace(str(dev.remote), "main", base / "long/w") as ws:
        ws.sync()
        fast_import(ws.root, [message("test/quiet", 1, "promote")])
        index = HistoryIndex(ws)
        busy = [f"team/busy{i}" for i in range(5)]
        kept = []
        began = time.perf_counter()
        for n in range(passes):
            fast_import(ws.root, [message(busy[i % 5], n * 10 + i) for i in range(50)]
                        + ["README: an edit by a person\n"])
            index.update(ws.head())
            for key in busy:
                tick_history(index, key, None)
            if hasattr(index, "last_for"):  # the idle canary's tick
                index.last_for("test/quiet")
            else:
                last_gitbot_commit(tick_history(index, "test/quiet", None), "test/quiet")
            if hasattr(index, "trim"):  # the end of the pass
                index.trim()
            kept.append(getattr(index, "kept", None) or len(getattr(index, "_commits", ())))
        seconds = time.perf_counter() - began
        print(f"long run, {passes} passes of 51 commits: commits kept after pass 1 {kept[0]}, "
              f"{passes // 2} {kept[passes // 2 - 1]}, {passes} {kept[-1]}; git log reads "
              f"{index.reads}; {seconds:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", default="300,1000", help="busy pass sizes, comma-separated")
    parser.add_argument("--passes", type=int, default=40, help="passes of the long run")
    args = parser.parse_args()
    counted = Counted()
    with tempfile.TemporaryDirectory(prefix="gitbot-history-") as tmp:
        for canaries in (int(n) for n in args.canaries.split(",")):
            busy_pass(Path(tmp), canaries, counted)
        long_run(Path(tmp), args.passes)


if __name__ == "__main__":
    main()
