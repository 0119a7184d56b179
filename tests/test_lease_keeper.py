"""The lease keeper (gitbot.lease) against a real bare remote: two keepers, each with its own
working copy, as two gitbot instances would have. Compare-and-swap races, takeover after
expiry, release, the fence on rollout-state writes, and `reconcile` refusing while another
instance leads."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.statestore import GitStateStore
from gitbot.cli import cli
from gitbot.core.state import Phase, RolloutState
from gitbot.lease import LEASE_PATH, FencedFiles, LeaseKeeper, LeaseLostError
from gitbot.sim.gitops import Developer, create_gitops_repo

BRANCH = "gitbot/state"
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def dev(tmp_path: Path) -> Developer:
    return create_gitops_repo(tmp_path)


@pytest.fixture
def workspaces(tmp_path: Path, dev: Developer) -> Iterator[tuple[GitWorkspace, GitWorkspace]]:
    with GitWorkspace(str(dev.remote), "main", tmp_path / "a") as a, \
         GitWorkspace(str(dev.remote), "main", tmp_path / "b") as b:
        a.sync()
        b.sync()
        yield a, b


def keeper(ws: GitWorkspace, name: str, clock: Clock) -> LeaseKeeper:
    return LeaseKeeper(ws, BRANCH, duration=60, skew=5, identity=name, clock=clock)


def remote_lease(remote: Path) -> dict[str, object]:
    out = subprocess.run(["git", "cat-file", "blob", f"{BRANCH}:{LEASE_PATH}"], cwd=remote,
                         capture_output=True, text=True, check=True).stdout
    data: dict[str, object] = json.loads(out)
    return data


def lease_commits(remote: Path) -> list[str]:
    out = subprocess.run(["git", "log", "--format=%s", BRANCH, "--", LEASE_PATH], cwd=remote,
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_first_acquires_second_stays_passive(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    clock = Clock()
    a, b = keeper(workspaces[0], "pod-a", clock), keeper(workspaces[1], "pod-b", clock)
    assert a.step() is True
    assert b.step() is False
    assert b.describe() == {"enabled": True, "identity": "pod-b", "leading": False,
                            "holder": "pod-a", "expires": "2026-11-22T10:01:05.000Z"}
    assert b.refusal() == ("another gitbot instance leads: pod-a holds the lease until "
                           "2026-11-22T10:01:05.000Z")
    clock.advance(10)
    assert a.step() is True  # not due: no new commit
    assert lease_commits(dev.remote) == ["lease: acquire by pod-a until 2026-11-22T10:01:00.000Z"]
    clock.advance(15)
    assert a.step() is True
    assert remote_lease(dev.remote)["renewed"] == "2026-11-22T10:00:25.000Z"
    assert lease_commits(dev.remote)[0] == "lease: renew by pod-a until 2026-11-22T10:01:25.000Z"


def test_takeover_only_after_expiry_and_skew(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    clock = Clock()
    a, b = keeper(workspaces[0], "pod-a", clock), keeper(workspaces[1], "pod-b", clock)
    assert a.step()
    assert not b.step()  # b starts watching this renewal at T0
    clock.advance(64)
    assert not b.step()
    clock.advance(1.5)
    assert b.step()
    lease = remote_lease(dev.remote)
    assert (lease["holder"], lease["transitions"]) == ("pod-b", 1)
    assert not a.step()  # the old leader finds it lost and turns passive
    assert not a.leading()


def test_a_holder_whose_clock_runs_behind_is_not_taken_over_by_a_watching_daemon(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    """a's clock is an hour behind, so its record looks long expired. A daemon (b) waits a
    whole duration from its first sight of that renewal; a one-shot pass judges by the record."""
    behind, clock = Clock(), Clock()
    behind.advance(-3600)
    a, b = keeper(workspaces[0], "pod-a", behind), keeper(workspaces[1], "pod-b", clock)
    assert a.step()
    assert not b.step()
    clock.advance(59)
    assert not b.step()
    assert a.ensure()  # half the duration is left on a's clock: nothing to do
    behind.advance(30)
    assert a.ensure()  # a renews on its own clock
    clock.advance(59)
    assert not b.step()  # a new renewal: b watches it from now
    one_shot = keeper(workspaces[1], "laptop", clock)
    assert one_shot.step(one_shot=True)  # never watched: the record alone says expired
    assert remote_lease(dev.remote)["holder"] == "laptop"


def test_compare_and_swap_race_has_one_winner(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    """b reads the free lease, then a takes it before b pushes: b's push is rejected by the
    remote, b decides again on the new head and stays passive."""
    clock = Clock()
    a = keeper(workspaces[0], "pod-a", clock)

    class Interleaved:
        def __init__(self, ws: GitWorkspace) -> None:
            self.ws, self.raced = ws, False

        def read_branch_file_versioned(self, branch: str, path: str) -> tuple[str | None, ...]:
            return self.ws.read_branch_file_versioned(branch, path)

        def swap_branch_file(self, *args: object, **kwargs: object) -> str | None:
            if not self.raced:
                self.raced = True
                assert a.step()  # the other instance wins the race
            return self.ws.swap_branch_file(*args, **kwargs)  # type: ignore[arg-type]

    b = LeaseKeeper(Interleaved(workspaces[1]), BRANCH, duration=60, skew=5,  # type: ignore[arg-type]
                    identity="pod-b", clock=clock)
    assert b.step() is False
    assert remote_lease(dev.remote)["holder"] == "pod-a"
    assert len(lease_commits(dev.remote)) == 1
    assert a.leading() and not b.leading()


def test_release_hands_over_at_once(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    clock = Clock()
    a, b = keeper(workspaces[0], "pod-a", clock), keeper(workspaces[1], "pod-b", clock)
    assert a.step() and not b.step()
    a.release()
    assert remote_lease(dev.remote)["holder"] == ""
    assert b.step()
    assert remote_lease(dev.remote)["holder"] == "pod-b"


def test_fence_refuses_state_writes_after_the_lease_was_lost(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    clock = Clock()
    a, b = keeper(workspaces[0], "pod-a", clock), keeper(workspaces[1], "pod-b", clock)
    store_a = GitStateStore(FencedFiles(workspaces[0], a), BRANCH)
    assert a.step()
    store_a.save("test/podinfo", RolloutState(phase=Phase.INITIALIZED), "initialized")
    assert not b.step()
    clock.advance(70)
    assert b.step()
    with pytest.raises(LeaseLostError, match="the lease is held by pod-b, not by this instance"):
        store_a.save("test/podinfo", RolloutState(phase=Phase.PROGRESSING), "advance")
    assert GitStateStore(workspaces[1], BRANCH).load("test/podinfo") == RolloutState(
        phase=Phase.INITIALIZED)
    store_a.approve("test/podinfo", "r-1", "dana", "2026-11-22T10:02:00Z")  # not fenced


def test_corrupt_lease_is_treated_as_free(
    dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace],
    caplog: pytest.LogCaptureFixture,
) -> None:
    workspaces[1].write_branch_file(BRANCH, LEASE_PATH, "{not json", "someone broke it")
    a = keeper(workspaces[0], "pod-a", Clock())
    assert a.step()
    assert remote_lease(dev.remote)["holder"] == "pod-a"
    assert "treating the lease as free" in caplog.text


def _config(tmp_path: Path, dev: Developer, lease: str = "") -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'cli-work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n" + lease,
        encoding="utf-8",
    )
    return config


def test_reconcile_refuses_while_another_instance_leads(
    tmp_path: Path, dev: Developer, workspaces: tuple[GitWorkspace, GitWorkspace]
) -> None:
    now = datetime.now(UTC)
    daemon = LeaseKeeper(workspaces[0], BRANCH, duration=600, skew=5, identity="pod-a",
                         clock=lambda: now)
    assert daemon.step()
    before = subprocess.run(["git", "rev-parse", "main", BRANCH], cwd=dev.remote,
                            capture_output=True, text=True, check=True).stdout
    result = CliRunner().invoke(cli, ["--config", str(_config(tmp_path, dev)), "reconcile",
                                      "--once"])
    assert result.exit_code == 4, result.output
    until = (now + timedelta(seconds=605)).isoformat(timespec="milliseconds")
    assert result.stderr == (
        "gitbot: another gitbot instance leads: pod-a holds the lease until "
        f"{until.replace('+00:00', 'Z')}; not acting\n"
    )
    after = subprocess.run(["git", "rev-parse", "main", BRANCH], cwd=dev.remote,
                           capture_output=True, text=True, check=True).stdout
    assert after == before  # nothing committed, not even a lease


def test_reconcile_takes_a_free_lease_and_releases_it(tmp_path: Path, dev: Developer) -> None:
    result = CliRunner().invoke(cli, ["--config", str(_config(tmp_path, dev)), "reconcile",
                                      "--once"])
    assert result.exit_code == 0, result.output
    assert "test/podinfo: Initialized" in result.stdout
    lease = remote_lease(dev.remote)
    assert lease["holder"] == ""
    assert [s.split(" by ")[0] for s in lease_commits(dev.remote)] == [
        "lease: released", "lease: acquire"]


def test_reconcile_ignores_the_lease_when_disabled(tmp_path: Path, dev: Developer) -> None:
    config = _config(tmp_path, dev, "lease:\n  enabled: false\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"])
    assert result.exit_code == 0, result.output
    assert lease_commits(dev.remote) == []


@pytest.mark.parametrize(
    ("line", "stale"),
    [
        pytest.param("!\tabc:refs/heads/gitbot/state\t[remote rejected] (failed to update ref)",
                     True, id="lost-the-ref-lock"),
        pytest.param("!\tabc:refs/heads/gitbot/state\t[remote rejected] (cannot lock ref "
                     "'refs/heads/gitbot/state')", True, id="cannot-lock-ref"),
        pytest.param("!\tabc:refs/heads/gitbot/state\t[rejected] (fetch first)", True,
                     id="remote-moved"),
        pytest.param("!\tabc:refs/heads/main\t[remote rejected] (protected branch hook declined)",
                     False, id="refused-by-policy"),
    ],
)
def test_a_push_that_lost_the_race_is_stale_not_refused(line: str, stale: bool) -> None:
    """Two instances pushing the lease at the same moment: the loser's push is rejected while
    the remote holds the ref's lock; that is a lost compare-and-swap, decided again."""
    from gitbot.adapters.git_branches import raise_unless_stale
    from gitbot.adapters.git_errors import GitRejectedError
    from gitbot.adapters.git_runner import Result

    class Run:
        def clean_text(self, text: str) -> str:
            return text

    result = Result(1, line, "error: failed to push some refs")
    if stale:
        raise_unless_stale(Run(), result)  # type: ignore[arg-type]
    else:
        with pytest.raises(GitRejectedError, match="protected branch hook declined"):
            raise_unless_stale(Run(), result)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("block", "error"),
    [
        pytest.param("lease:\n  duration: soon\n",
                     "config.yaml:4: lease.duration: must be a duration such as 30s, 1m or 1m30s "
                     "(at least 1s)", id="unparsable-duration"),
        pytest.param("lease:\n  duration: 0s\n",
                     "config.yaml:4: lease.duration: must be a duration such as 30s, 1m or 1m30s "
                     "(at least 1s)", id="zero-duration"),
        pytest.param("lease:\n  clockSkew: 5 seconds\n",
                     "config.yaml:4: lease.clockSkew: must be a duration such as 30s, 1m or "
                     "1m30s (at least 0s)", id="bad-skew"),
        pytest.param("lease:\n  renew: 10s\n", "config.yaml:4: lease.renew: unknown key",
                     id="unknown-key"),
    ],
)
def test_lease_settings_are_checked(tmp_path: Path, block: str, error: str) -> None:
    from gitbot.config import load_settings
    from gitbot.errors import InvalidInputError

    config = tmp_path / "config.yaml"
    config.write_text("git:\n  url: /srv/gitops.git\n" + block, encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_settings(config)
    assert str(info.value) == f"{tmp_path}/{error}"


def test_lease_settings_defaults_and_values(tmp_path: Path) -> None:
    from gitbot.config import load_settings

    config = tmp_path / "config.yaml"
    config.write_text("git:\n  url: /srv/gitops.git\n", encoding="utf-8")
    settings = load_settings(config)
    assert (settings.lease.enabled, settings.lease.seconds()) == (True, (60.0, 5.0))
    assert settings.kubernetes.status is False
    config.write_text("git:\n  url: /srv/gitops.git\nlease:\n  duration: 1m30s\n"
                      "  clockSkew: 0s\n", encoding="utf-8")
    assert load_settings(config).lease.seconds() == (90.0, 0.0)


def test_a_killed_reconcile_does_not_lock_out_the_next_run_from_the_same_working_copy(
    tmp_path: Path, dev: Developer
) -> None:
    """A one-shot pass killed while holding the lease (a CronJob run, a Ctrl-C'd laptop run):
    the next pass from the same working copy goes on at once; one from elsewhere waits."""
    import os
    import sys

    config = _config(tmp_path, dev)
    env = {**os.environ, "GITBOT_CRASH_AT": "after-state-write"}
    crashed = subprocess.run([sys.executable, "-m", "gitbot", "--config", str(config),
                              "reconcile"], env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 86, crashed.stderr
    assert remote_lease(dev.remote)["holder"]  # still held by the killed pass
    (tmp_path / "laptop").mkdir()
    elsewhere = _config(tmp_path / "laptop", dev)
    other = CliRunner().invoke(cli, ["--config", str(elsewhere), "reconcile"])
    assert other.exit_code == 4, other.output
    again = CliRunner().invoke(cli, ["--config", str(config), "reconcile"])
    assert again.exit_code == 0, again.output
    assert "test/podinfo: Initialized" in again.stdout
    assert remote_lease(dev.remote)["holder"] == ""
