"""Counters for the scale benchmark: files read, YAML parses, git processes, pushes, queries.

`counting(prom)` patches, for the duration of a `with` block, the few functions every such
operation goes through (safefs.read_text wherever gitbot imported it, ruamel.yaml's and PyYAML's
loaders, GitPython's `safer_popen`) and counts their calls. Benchmark only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import git.cmd
import ruamel.yaml
import yaml

from gitbot.adapters import safefs
from gitbot.sim.promstub import PromStub


@dataclass
class Counters:
    files_read: int = 0
    yaml_parses: int = 0
    git_processes: int = 0
    pushes: int = 0
    prom_start: int = 0
    prom: PromStub | None = field(default=None, repr=False)
    prom_end: int = -1

    def prom_queries(self) -> int:
        end = self.prom_end if self.prom_end >= 0 or self.prom is None else self.prom.total()
        return end - self.prom_start


@contextmanager
def counting(prom: PromStub) -> Iterator[Counters]:
    counters = Counters(prom=prom, prom_start=prom.total())
    with ExitStack() as stack:
        original_read = safefs.read_text

        def read_text(*args: Any, **kwargs: Any) -> Any:
            counters.files_read += 1
            return original_read(*args, **kwargs)

        for module in [m for name, m in sys.modules.items() if name.startswith("gitbot")]:
            if getattr(module, "read_text", None) is original_read:
                stack.enter_context(_patched(module, "read_text", read_text))
        for owner, name in ((ruamel.yaml.YAML, "load"), (ruamel.yaml.YAML, "load_all"),
                            (yaml, "load"), (yaml, "load_all")):
            stack.enter_context(_patched(owner, name, _count(getattr(owner, name), counters)))
        original_popen = git.cmd.safer_popen

        def popen(args: Any, *rest: Any, **kwargs: Any) -> Any:
            argv = list(args) if isinstance(args, list | tuple) else [str(args)]
            if argv and str(argv[0]).endswith("git"):
                counters.git_processes += 1
                counters.pushes += "push" in argv
            return original_popen(args, *rest, **kwargs)

        stack.enter_context(_patched(git.cmd, "safer_popen", popen))
        yield counters
    counters.prom_end = prom.total()


def _count(fn: Callable[..., Any], counters: Counters) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        counters.yaml_parses += 1
        return fn(*args, **kwargs)

    return counted


@contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)
