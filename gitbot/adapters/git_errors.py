"""Errors raised by the Git workspace, and the scrubbing that keeps secrets out of their text.

Used by `gitbot.adapters.git` and its helper modules; callers catch these through the
`gitbot.errors` categories (`RetryableError`, `NeedsHumanError`, `InvalidInputError`) or all of
them at once through `GitFailure`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gitbot.errors import GitbotError, InvalidInputError, NeedsHumanError, RetryableError

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
# A URL query parameter whose name looks like a credential (`?access_token=…`, `&sig=…`): its
# value runs to the next separator, quote or white space. Same names as
# `git_credentials.is_credential_name`.
_QUERY_CREDENTIAL = re.compile(
    r"(?P<name>[?&;][^=&;#\s'\"]*(?:token|secret|passw|pwd|auth|credential|sig|key)"
    r"[^=&;#\s'\"]*=)[^&;#\s'\"]*",
    re.IGNORECASE,
)
_MIN_SECRET = 4
_AUTH_HINTS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "invalid username or password",
    "permission denied (publickey",
    "host key verification failed",
    "returned error: 401",
    "returned error: 403",
    "http basic: access denied",
)
_UNREACHABLE_HINTS = (
    "could not resolve host",
    "unable to access",
    "connection refused",
    "connection timed out",
    "could not read from remote repository",
    "does not appear to be a git repository",
    "early eof",
    "the remote end hung up",
    "timeout:",
    "timed out",
    "rpc failed",
)


class GitFailure(GitbotError):
    """Marker base: every error the Git workspace raises on purpose derives from this."""


class GitError(GitFailure, RetryableError):
    """A transient Git failure (remote unreachable, lock held, timeout); retry next tick."""


class GitConflictError(GitFailure, NeedsHumanError):
    """A rebase or revert met a real content conflict; a person has to resolve it."""

    def __init__(
        self,
        message: str,
        files: Iterable[str] = (),
        ours: Iterable[str] = (),
        theirs: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.files: tuple[str, ...] = tuple(files)
        self.ours: tuple[str, ...] = tuple(ours)
        self.theirs: tuple[str, ...] = tuple(theirs)


class GitAuthError(GitFailure, NeedsHumanError):
    """The remote refused our credentials, or the token reference cannot be resolved."""


class GitRejectedError(GitFailure, NeedsHumanError):
    """The remote refused the push for a reason other than a race (hook, protected branch)."""


class GitInputError(GitFailure, InvalidInputError):
    """Bad input: a URL carrying credentials, a bad branch or path, an unknown commit."""


def scrub_url(text: str) -> str:
    """Remove the userinfo part (`user:token@`) of every URL in `text` and mask the values of
    credential-like query parameters (`?access_token=***`)."""
    text = _USERINFO.sub(lambda m: m.group("scheme"), text)
    return _QUERY_CREDENTIAL.sub(lambda m: f"{m.group('name')}***", text)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub URL userinfo and every occurrence of each known secret value from `text`."""
    out = scrub_url(text)
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            out = out.replace(secret, "***")
    return out


def classify(command: str, status: int, stderr: str, secrets: Iterable[str] = ()) -> GitFailure:
    """Turn a failed git command into the right error, with scrubbed, short text."""
    detail = _tail(scrub(stderr, secrets))
    message = f"git {command} failed (exit {status}): {detail}"
    lowered = stderr.lower()
    if "host key verification failed" in lowered:
        return GitAuthError(
            f"{message} (the server's host key is not in the known_hosts file gitbot uses: "
            "git.ssh.knownHostsFile)")
    if any(hint in lowered for hint in _AUTH_HINTS):
        return GitAuthError(f"{message} (check the token or key gitbot uses)")
    return GitError(message)


def is_unreachable(stderr: str) -> bool:
    """True when git's error text says the remote could not be reached or refused us."""
    lowered = stderr.lower()
    return any(hint in lowered for hint in _UNREACHABLE_HINTS + _AUTH_HINTS)


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no error text)"
