"""Commit messages with trailers, and reading the branch history back as `CommitInfo`.

Used by `gitbot.adapters.git` (commit, revert, log). Trailers are `Key: value` lines in the last
paragraph of the message, as `git interpret-trailers` understands them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gitbot.adapters.git_errors import GitInputError

Trailers = Mapping[str, str] | Sequence[tuple[str, str]]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_FIELD = "\x1f"
_RECORD = "\x1e"
LOG_FORMAT = _FIELD.join(["%H", "%P", "%ct", "%s", "%b", "%(trailers:only,unfold)"]) + _RECORD


@dataclass(frozen=True)
class CommitInfo:
    """One commit on the branch, newest-first in `GitWorkspace.log`."""

    sha: str
    subject: str
    body: str
    trailers: dict[str, list[str]]
    time: str
    parents: tuple[str, ...]


def trailer_pairs(trailers: Trailers) -> list[tuple[str, str]]:
    """Trailers as a validated list of (key, value) pairs, in the given order."""
    pairs = list(trailers.items()) if isinstance(trailers, Mapping) else list(trailers)
    for key, value in pairs:
        if not _KEY.match(key):
            raise GitInputError(f"commit trailer key {key!r} must be letters, digits and '-'")
        if "\n" in value or not value.strip():
            raise GitInputError(f"commit trailer {key} needs a one-line, non-empty value")
    return pairs


def build_message(subject: str, body: str = "", trailers: Trailers = ()) -> str:
    """Subject, blank line, body, blank line, trailer block; validated."""
    subject = subject.strip()
    if not subject or "\n" in subject:
        raise GitInputError("commit subject must be one non-empty line")
    parts = [subject]
    if body.strip():
        parts.append(body.strip())
    pairs = trailer_pairs(trailers)
    if pairs:
        parts.append("\n".join(f"{key}: {value.strip()}" for key, value in pairs))
    return "\n\n".join(parts) + "\n"


def parse_log(output: str) -> list[CommitInfo]:
    """Parse `git log --format=LOG_FORMAT` output."""
    commits = []
    for record in output.split(_RECORD):
        record = record.lstrip("\n")
        if record.strip():
            commits.append(_parse_record(record))
    return commits


def _parse_record(record: str) -> CommitInfo:
    sha, parents, stamp, subject, body, trailer_text = record.split(_FIELD, 5)
    trailers = parse_trailers(trailer_text)
    return CommitInfo(
        sha=sha,
        subject=subject,
        body=_strip_trailer_block(body, trailer_text),
        trailers=trailers,
        time=rfc3339(int(stamp)),
        parents=tuple(parents.split()),
    )


def parse_trailers(text: str) -> dict[str, list[str]]:
    """`Key: value` lines to {key: [values...]} (a key may repeat)."""
    trailers: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            trailers.setdefault(key.strip(), []).append(value.strip())
    return trailers


def _strip_trailer_block(body: str, trailer_text: str) -> str:
    body = body.strip()
    block = trailer_text.strip()
    if block and body.endswith(block):
        return body[: -len(block)].strip()
    lines = body.splitlines()
    while lines and parse_trailers(lines[-1]) and lines[-1].split(":")[0].strip() in block:
        lines.pop()
    return "\n".join(lines).strip()


def rfc3339(stamp: int) -> str:
    """Unix seconds to an RFC 3339 UTC timestamp such as 2026-11-22T10:00:00Z."""
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
