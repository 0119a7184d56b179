"""The benchmark's world for the pass tests: a GitOps repository of N canaries (1-minute
intervals) on a real bare remote, and gitbot (`build_app`) bootstrapped and initialized over
it on a fake clock (test_pass_counts, test_pass_batch, test_pass_crash, test_prom_prefetch)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.scale import FakeClock, make_app, make_repo
from gitbot.sim.gitops import CanaryOptions, Developer
from gitbot.wiring import App


def stepping_repo(tmp_path: Path, canaries: int) -> Developer:
    """A repository of `canaries` apps, each with a Canary analysing every minute."""
    return make_repo(tmp_path, canaries, canaries,
                     CanaryOptions(interval="1m", metric_interval="1m"))


@contextmanager
def initialized(tmp_path: Path, dev: Developer, prom_url: str
                ) -> Iterator[tuple[App, FakeClock]]:
    """gitbot over `dev`'s remote after its bootstrap and initialize passes; closed after."""
    clock = FakeClock()
    app = make_app(tmp_path, dev.remote, prom_url, clock)
    try:
        for _ in range(2):  # bootstrap, initialize
            app.reconciler.run_pass()
            clock.advance(61)
        yield app, clock
    finally:
        app.close()
