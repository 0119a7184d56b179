"""Runs one git command line through GitPython's CLI wrapper, bounded by a timeout.

Used by `gitbot.adapters.git` and `gitbot.adapters.git_branches`. Every command gets the
workspace's environment (identity, no prompts, credential helper) and a `kill_after_timeout`;
failures become `GitFailure` errors whose text is scrubbed of URL userinfo and of the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from git.cmd import Git

from gitbot.adapters.git_errors import GitFailure, classify, scrub

log = logging.getLogger("gitbot.git")


@dataclass(frozen=True)
class Result:
    """What one git command produced."""

    status: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.status == 0


class Runner:
    """Runs git through one GitPython `Git` (e.g. `repo.git`) with a fixed environment.

    Not thread-safe: one runner per thread, like the `Repo` it belongs to.
    """

    def __init__(
        self,
        git: Git,
        env: Mapping[str, str],
        timeout: float,
        secrets: Callable[[], list[str]],
    ) -> None:
        self._git = git
        self._env = dict(env)
        self._timeout = timeout
        self._secrets = secrets
        #: called with (args, env) before every command (the workspace settles its index)
        self.before: Callable[[tuple[str, ...], Mapping[str, str] | None], None] | None = None

    @property
    def env(self) -> Mapping[str, str]:
        """The environment every command gets (identity, prompts off, credentials)."""
        return self._env

    def run(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        stdin: IO[bytes] | None = None,
        strip: bool = True,
    ) -> Result:
        """Run `git <args>`; raise a `GitFailure` when `check` and the exit status is not 0."""
        if self.before is not None:
            self.before(args, env)
        merged = {**self._env, **(env or {})}
        kwargs: dict[str, Any] = {"strip_newline_in_stdout": strip}
        if stdin is not None:
            kwargs["istream"] = stdin
        status, out, err = self._git.execute(
            ["git", *args],
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=self._timeout,
            env=merged,
            **kwargs,
        )
        result = Result(int(status or 0), str(out), str(err))
        log.debug("git %s -> %d", args[0] if args else "", result.status)
        if check and not result.ok:
            raise self.failure(args, result)
        return result

    def text(self, *args: str) -> str:
        """Run a command that must succeed and return its stripped stdout."""
        return self.run(*args).out.strip()

    def failure(self, args: tuple[str, ...], result: Result) -> GitFailure:
        """The error to raise for a failed command (scrubbed of secrets)."""
        command = args[0] if args else ""
        return classify(command, result.status, result.err or result.out, self._secrets())

    def clean_text(self, text: str) -> str:
        """`text` with URL userinfo and the token removed, safe for logs and exceptions."""
        return scrub(text, self._secrets())
