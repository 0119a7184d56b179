"""The applied-revision gate for Kustomizations sourced from an ExternalArtifact (Flux 2.7):
their `revision` is `latest@sha256:<digest>`, not a commit. The series' `origin_revision`
label (status.lastAppliedOriginRevision) gives the commit when exported; without it the gate
waits one analysis interval after gitbot's commit instead of holding forever (said once).
Real git remote, real HTTP server answering as Prometheus."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gitfixtures import make_remote, remote_head
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.git_log import CommitInfo
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.queries import applied_commit
from gitbot.core.spec import Analysis, Canary, ObjectRef, ServiceSpec
from gitbot.observe import Observer

DIGEST = "latest@sha256:" + "ab" * 32
OTHER = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
APPLYING = frozenset({("flux-system", "apps"), ("flux-system", "gitbot-apps")})
CANARY = Canary(name="podinfo", namespace="podinfo", target=ObjectRef(name="podinfo"),
                service=ServiceSpec(port=9898), analysis=Analysis(interval_seconds=60))


@pytest.mark.parametrize("revision, origin, expected", [
    pytest.param("main@sha1:abc123", "", "abc123", id="git-repository"),
    pytest.param(DIGEST, "main@sha1:abc123", "abc123", id="artifact-with-origin"),
    pytest.param(DIGEST, "", "", id="artifact-without-origin"),
    pytest.param("sha256:" + "cd" * 32, "  ", "", id="bare-digest-blank-origin"),
])
def test_applied_commit(revision: str, origin: str, expected: str) -> None:
    assert applied_commit(revision, origin) == expected


def series(*rows: tuple[str, str, str | None]) -> Reply:
    result = []
    for name, revision, origin in rows:
        labels = {"customresource_kind": "Kustomization", "exported_namespace": "flux-system",
                  "name": name, "revision": revision}
        if origin is not None:
            labels["origin_revision"] = origin
        result.append({"metric": labels, "value": [1.0, "1"]})
    return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})


@pytest.fixture()
def head(tmp_path: Path) -> Iterator[tuple[GitWorkspace, str]]:
    bare = make_remote(tmp_path)
    with GitWorkspace(str(bare), "main", tmp_path / "ws") as ws:
        ws.sync()
        yield ws, remote_head(bare)


def ours(sha: str, minutes_ago: float) -> list[CommitInfo]:
    when = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return [CommitInfo(sha, "gitbot: step", "", {"Gitbot-Canary": [CANARY.key]}, when, ())]


def gate(ws: GitWorkspace, reply: Reply, history: list[CommitInfo],
         applying: frozenset[tuple[str, str]] = APPLYING) -> bool:
    with RecordingServer(reply) as fake, PrometheusMetrics(fake.url) as metrics:
        observer = Observer(ws, metrics, lambda _ns, _name: {})
        try:
            return observer.sync.cluster_synced(CANARY, history, datetime.now(UTC), applying)
        finally:
            observer.close()


def rows(apps: tuple[str, str | None], mine: str) -> tuple[tuple[str, str, str | None], ...]:
    return (("apps", *apps), ("gitbot-apps", mine, None))


@pytest.mark.parametrize("apps, minutes_ago, synced", [
    pytest.param((DIGEST, "main@sha1:{head}"), 0, True, id="origin-is-our-commit"),
    pytest.param((DIGEST, f"main@sha1:{OTHER}"), 5, False, id="origin-is-another-commit"),
    pytest.param((DIGEST, None), 0, False, id="no-origin-just-committed-waits"),
    pytest.param((DIGEST, None), 2, True, id="no-origin-one-interval-later"),
    pytest.param((DIGEST, ""), 2, True, id="empty-origin-one-interval-later"),
])
def test_the_gate_for_an_artifact_kustomization(head: tuple[GitWorkspace, str],
                                                apps: tuple[str, str | None], minutes_ago: float,
                                                synced: bool) -> None:
    ws, sha = head
    origin = apps[1].format(head=sha) if apps[1] is not None else None
    reply = series(*rows((apps[0], origin), f"main@sha1:{sha}"))
    assert gate(ws, reply, ours(sha, minutes_ago)) is synced


def test_the_time_fallback_still_needs_the_git_kustomizations(
        head: tuple[GitWorkspace, str]) -> None:
    ws, sha = head
    reply = series(*rows((DIGEST, None), f"main@sha1:{OTHER}"))
    assert gate(ws, reply, ours(sha, 5)) is False


def test_the_fallback_is_logged_once(head: tuple[GitWorkspace, str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    ws, sha = head
    reply = series(*rows((DIGEST, None), f"main@sha1:{sha}"))
    with RecordingServer(reply) as fake, PrometheusMetrics(fake.url) as metrics:
        observer = Observer(ws, metrics, lambda _ns, _name: {})
        with caplog.at_level(logging.WARNING, logger="gitbot.observe"):
            answers = [observer.sync.cluster_synced(CANARY, ours(sha, 2), datetime.now(UTC),
                                                    APPLYING) for _ in range(3)]
        observer.close()
    assert answers == [True, True, True]
    said = [r.getMessage() for r in caplog.records if "ExternalArtifact digest" in r.getMessage()]
    assert len(said) == 1 and "origin_revision" in said[0]


def test_without_applying_a_digest_alone_waits_an_interval(
        head: tuple[GitWorkspace, str]) -> None:
    """Plain-repository mode (any Kustomization counts): a digest is not a commit."""
    ws, sha = head
    reply = series(("apps", DIGEST, None))
    assert gate(ws, reply, ours(sha, 0), frozenset()) is False
    assert gate(ws, reply, ours(sha, 2), frozenset()) is True

