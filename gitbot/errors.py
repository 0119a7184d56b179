"""One root error for gitbot, split by what the caller should do about it.

- `RetryableError`: a passing condition (remote busy, Prometheus down); try again next tick.
- `NeedsHumanError`: something only a person can fix (merge conflict, rejected credentials).
- `InvalidInputError`: bad configuration or manifests; reported with file, line and field.
"""

from __future__ import annotations


class GitbotError(Exception):
    """Root of every error gitbot raises on purpose."""


class RetryableError(GitbotError):
    """A temporary failure: the same action may succeed on the next tick."""


class NeedsHumanError(GitbotError):
    """A permanent failure that a person must resolve (conflict, auth, protection)."""


class InvalidInputError(GitbotError):
    """Bad configuration or repository content."""
