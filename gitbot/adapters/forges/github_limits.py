"""GitHub's rate limits and error answers for the GitHub forge (`github.py` calls every request
through `Guard.call`).

What GitHub asks of a client
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit):
a 403 or 429 with `Retry-After`: no request before that many seconds; with
`X-RateLimit-Remaining: 0`: none before `X-RateLimit-Reset`; otherwise wait at least a minute,
longer (exponentially) when it happens again; requests made while limited may get the
integration banned. So:

- a spent primary budget is never slept on: `ForgeBudgetError` saying when it resets, and no
  request at all until then (the canary waits; its tick ends, nothing half-done is lost);
- a secondary limit is waited out and the request made again (GitHub did not act on it) while
  the waits of that request add up to `max_wait` seconds at most; a longer wait is a
  `ForgeBudgetError` and no request is sent until it is over (the daemon never sleeps longer);
- other answers become gitbot's errors, one line each, never with the token: 401 names the
  token setting, 404 the repository, 5xx is retryable;
- a token GitHub refused (401) is not sent again: GitHub answers repeated bad credentials by
  refusing every login of that account for a while, valid ones too (REST docs, "Failed login
  limit"). The token is read again for each request (`FreshToken`: a rotated `tokenFile`, e.g.
  an hourly GitHub App installation token, is picked up without a restart), and a new one is
  tried at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from github import Auth, GithubException

from gitbot.adapters.forges.base import ForgeBudgetError
from gitbot.errors import GitbotError, NeedsHumanError, RetryableError

log = logging.getLogger("gitbot.forge")
T = TypeVar("T")
SECONDARY_DEFAULT = 60.0  # GitHub: wait at least a minute when no Retry-After is given


class Guard:
    """Makes each request within GitHub's limits; see the module docstring.

    `budget()` is the primary budget as the last response told it: (remaining, reset epoch s).
    """

    def __init__(
        self, repository: str, budget: Callable[[], tuple[int, float]], *, max_wait: float,
        sleep: Callable[[float], None], clock: Callable[[], float],
        token: Callable[[], str] = str,
    ) -> None:
        self._repository = repository
        self._token = token
        self._refused_token = ""  # digest of the token GitHub answered 401 to
        self._refusal: GitbotError | None = None
        self._budget = budget
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._quiet_until = 0.0  # no request before this (a secondary limit)
        self._limited = 0  # secondary limits in a row (the exponential wait without Retry-After)

    def call(self, what: str, action: Callable[[], T]) -> T:
        slept = 0.0
        for attempt in range(3):
            self._check(what)
            try:
                result = action()
            except GithubException as err:
                slept += self._refused(err, what, slept, last=attempt == 2)
                continue
            except requests.RequestException as err:
                raise RetryableError(f"GitHub API unreachable while {what}: "
                                     f"{type(err).__name__}") from None
            self._limited = 0
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, err: GithubException, what: str, slept: float, *, last: bool) -> float:
        """Wait out a short secondary limit (the caller asks again): the seconds slept; or
        raise. The waits of one request add up to `max_wait` at most."""
        if primary_spent(err):
            raise self._spent(what, reset_of(err)) from None
        wait = self._backoff(err)
        if wait is None:
            error = translate(err, what, self._repository)
            if err.status == 401:
                self._refused_token, self._refusal = _digest(self._token()), error
            raise error from None
        if last or slept + wait > self._max_wait:
            self._quiet_until = self._clock() + wait
            at = time.strftime("%H:%M:%SZ", time.gmtime(self._quiet_until))
            raise ForgeBudgetError(
                f"GitHub secondary rate limit ({err.status}) while {what}: no request before "
                f"{at} (in {wait:.0f}s); the canary waits and gitbot tries again then") from None
        told = headers_of(err).get("retry-after")
        log.warning("GitHub secondary rate limit (%d, %s) while %s; waiting %.0fs, then making "
                    "the request again", err.status,
                    f"Retry-After {told}s" if told else "no Retry-After", what, wait)
        self._sleep(wait)
        return wait

    def _check(self, what: str) -> None:
        if self._refusal is not None and _digest(self._token()) == self._refused_token:
            raise NeedsHumanError(f"{self._refusal}; not sent again with the same token, so "
                                  f"not {what}")
        now = self._clock()
        if self._quiet_until > now:
            at = time.strftime("%H:%M:%SZ", time.gmtime(self._quiet_until))
            raise ForgeBudgetError(
                f"GitHub secondary rate limit: no request before {at} (in "
                f"{self._quiet_until - now:.0f}s), so not {what} now; the canary waits")
        remaining, reset = self._budget()
        if remaining == 0 and reset > now:
            raise self._spent(what, reset)

    def _spent(self, what: str, reset: float) -> ForgeBudgetError:
        wait = max(0.0, reset - self._clock())
        at = time.strftime("%H:%M:%SZ", time.gmtime(reset)) if reset else "its reset"
        return ForgeBudgetError(
            f"GitHub API budget spent (X-RateLimit-Remaining 0) before {what}; it resets at "
            f"{at} (in {wait:.0f}s); the canary waits and gitbot tries again then")

    def _backoff(self, err: GithubException) -> float | None:
        """Seconds to wait out a secondary rate limit; None: not a rate limit."""
        if err.status not in (403, 429):
            return None
        headers = headers_of(err)
        if "retry-after" in headers:
            self._limited += 1
            try:
                return max(0.0, float(str(headers["retry-after"])))
            except ValueError:  # an HTTP date: GitHub sends seconds; wait the default
                return SECONDARY_DEFAULT
        if err.status == 429 or "rate limit" in message_of(err).lower():
            self._limited += 1
            return min(3600.0, SECONDARY_DEFAULT * (1 << min(self._limited - 1, 6)))
        return None


class FreshToken(Auth.Token):
    """PyGithub's token auth, the token read again (`read()`) for every request; when reading
    fails the last token read is used."""

    def __init__(self, read: Callable[[], str]) -> None:
        super().__init__(read())
        self._read = read

    @property
    def token(self) -> str:
        with contextlib.suppress(GitbotError):  # unreadable now: the last token read
            self._token = self._read() or self._token
        return self._token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def headers_of(err: GithubException) -> dict[str, str]:
    return {k.lower(): v for k, v in (err.headers or {}).items()}


def primary_spent(err: GithubException) -> bool:
    """GitHub's answer when the primary budget is spent: 403/429, remaining 0, no Retry-After."""
    headers = headers_of(err)
    return (err.status in (403, 429) and headers.get("x-ratelimit-remaining") == "0"
            and "retry-after" not in headers)


def reset_of(err: GithubException) -> float:
    try:
        return float(headers_of(err).get("x-ratelimit-reset", 0))
    except ValueError:
        return 0.0


def message_of(err: GithubException) -> str:
    """GitHub's `message` and the `errors` details, one line."""
    data = err.data if isinstance(err.data, dict) else {}
    message = str(data.get("message") or err.message or "")
    details = [e if isinstance(e, str) else str(e.get("message") or e.get("code") or "")
               for e in data.get("errors") or []]
    return "; ".join(p for p in [message, *details] if p)


def translate(err: GithubException, what: str, repository: str) -> GitbotError:
    text = f"GitHub answered {err.status} while {what}: {message_of(err)}"
    if err.status == 401:
        return NeedsHumanError(f"{text} (check the token named by forge.github.tokenEnv or "
                               "tokenFile)")
    if err.status == 404:
        return NeedsHumanError(f"{text} (does {repository} exist, and may the token see it?)")
    if err.status == 403:
        return NeedsHumanError(f"{text} (the token lacks a permission)")
    if err.status >= 500:
        return RetryableError(text)
    return GitbotError(text)
