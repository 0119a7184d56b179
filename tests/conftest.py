"""Test ordering for the parallel run (`scripts/test` runs pytest-xdist).

The end-to-end tests (marked `e2e`) take 20-120 s each and mostly wait on wall clock; the ~1,500
others take well under a second each and are CPU-bound. Started first, the long tests are spread
over the workers (xdist's load scheduling with `--maxschedchunk` small hands out tests one by
one in this order) while the short ones fill the gaps, instead of a few long tests trailing
alone at the end. The order is deterministic (every xdist worker must collect the same list);
without xdist it changes nothing but the order.
"""

from __future__ import annotations

import pytest

from gitbot.adapters.git_runner import Result, Runner

#: The longest tests first: the demo plays three rollouts in one test.
_LONGEST_FIRST = ("test_demo.py", "test_e2e_pullrequests")
#: Tests without the e2e mark that still take minutes (whole PR rollouts against the stand-in
#: Prometheus with the GitHub client's write pause, 300 git cycles): started with the e2e ones.
_SLOW = ("test_pr_people.py", "test_pr_github_people.py", "test_pr_restart.py",
         "test_no_process_leak")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: within a rank, the collection order stays


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("e2e") is None:
        return 1 if any(name in item.nodeid for name in _SLOW) else 2
    return 0 if any(name in item.nodeid for name in _LONGEST_FIRST) else 1


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The git subcommand of every `Runner.run` from now on (test_git_fast, test_git_objects;
    a test module's own `commands` fixture overrides this one)."""
    seen: list[str] = []
    original = Runner.run

    def recording(self: Runner, *args: str, **kwargs: object) -> Result:
        seen.append(args[0])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Runner, "run", recording)
    return seen
