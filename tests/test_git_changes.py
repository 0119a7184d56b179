"""`GitWorkspace.changes` and `file_at` (gitbot/adapters/git_changes.py): who changed which of
the given files since a commit, and a file's content at a commit. Real bare remote, a second
plain-git clone as the person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitfixtures import SEED, Clone, make_remote

from gitbot.adapters.git import GitInputError, GitWorkspace
from gitbot.adapters.git_changes import Change, parse_changes

VS = "apps/podinfo/vs.yaml"
DEPLOY = "apps/podinfo/deploy.yaml"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path)


@pytest.fixture
def ws(tmp_path: Path, remote: Path) -> Iterator[GitWorkspace]:
    with GitWorkspace(str(remote), "main", tmp_path / "work") as workspace:
        workspace.sync()
        yield workspace


def test_changes_since_a_commit_name_author_subject_and_files(
    ws: GitWorkspace, remote: Path, tmp_path: Path
) -> None:
    seed = ws.head()
    other = Clone(remote, tmp_path / "other")
    first = other.change(VS, "route:\n  primary: 70\n  canary: 30\n", "Try 30 percent")
    other.change("README.md", "docs\n", "Docs only")
    third = other.change(DEPLOY, "replicas: 0\nimage: podinfo:6.0.0\n", "Scale down")
    ws.sync()
    assert ws.changes(seed, [VS, DEPLOY]) == [
        Change(third, "other", "Scale down", (DEPLOY,)),
        Change(first, "other", "Try 30 percent", (VS,)),
    ]
    assert ws.changes(first, [VS]) == []
    assert [c.subject for c in ws.changes("", [], max_count=1)] == ["Scale down"]
    assert [c.subject for c in ws.changes("0" * 40, [VS])] == ["Try 30 percent", "seed"]


def test_file_at_reads_a_file_of_an_older_commit(
    ws: GitWorkspace, remote: Path, tmp_path: Path
) -> None:
    seed = ws.head()
    Clone(remote, tmp_path / "other").change(VS, "route: {}\n", "Drop the routes")
    ws.sync()
    assert ws.file_at(seed, VS) == SEED[VS]
    assert ws.file_at(seed, "apps/missing.yaml") is None
    assert ws.file_at("f" * 40, VS) is None
    with pytest.raises(GitInputError):
        ws.file_at(seed, "../outside.yaml")


def test_parse_changes_skips_noise() -> None:
    out = "\x1eabc\x1fDana\x1fSubject: with\x1fseparator\n\na.yaml\nb.yaml\n\x1e\n"
    assert parse_changes(out) == [Change("abc", "Dana", "Subject: with\x1fseparator",
                                         ("a.yaml", "b.yaml"))]
