"""Credentials for the Git workspace, passed by reference and never written anywhere.

`GitWorkspace` (gitbot.adapters.git) calls `check_url` on its remote URL and merges
`workspace_env` into the environment of every git command.

- https: the token is read at run time by a credential helper given to git through
  `GIT_CONFIG_*` environment variables: the token itself is never in a URL, `.git/config`, a
  command line, a log line or an exception.
- ssh: a deploy key and a known_hosts file by path (what Flux keeps in its `identity` and
  `known_hosts` Secret keys), handed to ssh through `GIT_SSH_COMMAND` with strict host-key
  checking and no prompts.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from gitbot.adapters.git_errors import GitAuthError, GitInputError, scrub_url

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_SCHEMES = ("http", "https")
_BASE_CONFIG = [("gc.autoDetach", "false"), ("advice.detachedHead", "false")]

# A git credential helper (a shell function, so no token ever reaches an argv): on `get` it
# prints the username and the token read from the file or the environment variable named by
# GITBOT_GIT_TOKEN_FILE / GITBOT_GIT_TOKEN_ENV. `store` and `erase` do nothing.
HELPER = (
    "!f() { test \"$1\" = get || return 0; "
    "if test -n \"$GITBOT_GIT_TOKEN_FILE\"; then t=$(cat \"$GITBOT_GIT_TOKEN_FILE\") || return 1; "
    "else t=$(printenv \"$GITBOT_GIT_TOKEN_ENV\") || return 1; fi; "
    "printf 'username=%s\\npassword=%s\\n' \"$GITBOT_GIT_USERNAME\" \"$t\"; }; f"
)


@dataclass(frozen=True)
class Credentials:
    """HTTPS credentials by reference: the name of an env variable or a file holding the token."""

    username: str = "x-access-token"
    token_env: str = ""
    token_file: str = ""

    def __post_init__(self) -> None:
        if bool(self.token_env) == bool(self.token_file):
            raise GitInputError("git credentials: set exactly one of token_env and token_file")
        if self.token_env and not _ENV_NAME.match(self.token_env):
            raise GitInputError(
                f"git credentials: token_env must be an environment variable name, "
                f"got a value of {len(self.token_env)} characters"
            )
        if not self.username or "\n" in self.username:
            raise GitInputError("git credentials: username must be one non-empty line")


@dataclass(frozen=True)
class SshIdentity:
    """An ssh private key file and, optionally, the known_hosts file to check the host with.

    Without `known_hosts_file` ssh uses its own (~/.ssh/known_hosts); an unknown host is
    refused either way, never accepted on first sight.
    """

    key_file: str
    known_hosts_file: str = ""

    def __post_init__(self) -> None:
        if not self.key_file:
            raise GitInputError("git ssh: keyFile is required")

    def check(self) -> None:
        """Fail fast, naming the file (a path, never its content), when one is unreadable."""
        for what, path in (("keyFile", self.key_file), ("knownHostsFile", self.known_hosts_file)):
            if path and not os.access(path, os.R_OK):
                raise GitInputError(f"git ssh: {what} {path} does not exist or is unreadable")

    def command(self) -> str:
        """The `GIT_SSH_COMMAND`: this key only, strict host keys, never a prompt."""
        args = ["ssh", "-i", str(Path(self.key_file).absolute()), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        if self.known_hosts_file:
            known = Path(self.known_hosts_file).absolute()
            args += ["-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null"]
        return shlex.join(args)


_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?:\[[^\]]+\]|[^@/:\[\]]+):")


def is_ssh_url(url: str) -> bool:
    """`ssh://host/path`, `git+ssh://…`, or git's scp-like `[user@]host:path`."""
    if "://" in url:
        return urlsplit(url).scheme.lower() in ("ssh", "git+ssh", "ssh+git")
    return bool(_SCP_LIKE.match(url)) and not url.startswith(("/", "./", "../"))


def check_url(url: str) -> None:
    """Reject an empty URL or one that carries credentials (userinfo `user:token` before `@`,
    or a query parameter such as `access_token=`)."""
    if not url.strip():
        raise GitInputError("git url is empty")
    if "://" not in url:
        return
    parts = urlsplit(url)
    has_userinfo = "@" in parts.netloc
    if (parts.scheme.lower() in _HTTP_SCHEMES and has_userinfo) or parts.password is not None:
        raise GitInputError(
            f"git url {scrub_url(url)} carries credentials in it; remove them from the URL and "
            "reference the token instead (credentials token_env or token_file)"
        )
    names = query_credentials(url)
    if names:
        raise GitInputError(
            f"git url {scrub_url(url)} carries credentials in its query string "
            f"({', '.join(names)}); remove them from the URL and reference the token instead "
            "(credentials token_env or token_file)"
        )


def query_credentials(url: str) -> list[str]:
    """The names (never the values) of the query parameters of `url` that look like
    credentials: `access_token`, `private_token`, anything with `token`, `key`, `password`,
    `secret`, `sig`, `auth`."""
    if "://" not in url:
        return []
    query = urlsplit(url).query.replace(";", "&")
    pairs = parse_qsl(query, keep_blank_values=True)
    return sorted({_shown_name(name) for name, _ in pairs if is_credential_name(name)})


_CREDENTIAL_NAME = re.compile(r"token|secret|passw|pwd|auth|credential|sig|key", re.IGNORECASE)


def _shown_name(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else "a parameter"


_PLAIN_NAME = re.compile(r"[A-Za-z_.-]{1,24}")  # no digits: a token is never shown as a name


def is_credential_name(name: str) -> bool:
    """True for a parameter name that is likely to carry a credential."""
    return bool(_CREDENTIAL_NAME.search(name))


def read_token(credentials: Credentials | None) -> str | None:
    """The token's current value, or None when it cannot be read (used to scrub text)."""
    if credentials is None:
        return None
    if credentials.token_env:
        return os.environ.get(credentials.token_env) or None
    try:
        return Path(credentials.token_file).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def require_token(credentials: Credentials | None) -> None:
    """Fail fast, naming the reference (never the value), when the token is missing."""
    if credentials is None or read_token(credentials) is not None:
        return
    where = (
        f"environment variable {credentials.token_env}"
        if credentials.token_env
        else f"file {credentials.token_file}"
    )
    raise GitAuthError(f"git token not available: {where} is missing, empty or unreadable")


def credential_env(credentials: Credentials | None, url: str) -> dict[str, str]:
    """Environment variables that make git ask our helper, and only it, for http(s) passwords."""
    if credentials is None or urlsplit(url).scheme.lower() not in _HTTP_SCHEMES:
        return {}
    env = {"GITBOT_GIT_USERNAME": credentials.username}
    if credentials.token_file:
        env["GITBOT_GIT_TOKEN_FILE"] = str(Path(credentials.token_file).absolute())
    else:
        env["GITBOT_GIT_TOKEN_ENV"] = credentials.token_env
    return env


def credential_config(credentials: Credentials | None, url: str) -> list[tuple[str, str]]:
    """Config entries: an empty helper resets any inherited ones, then ours."""
    if not credential_env(credentials, url):
        return []
    return [("credential.helper", ""), ("credential.helper", HELPER)]


def config_env(entries: list[tuple[str, str]]) -> dict[str, str]:
    """Encode config entries as `GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n`."""
    env = {"GIT_CONFIG_COUNT": str(len(entries))}
    for index, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def workspace_env(
    url: str, name: str, email: str, credentials: Credentials | None,
    ssh: SshIdentity | None = None,
) -> dict[str, str]:
    """Everything git needs from the environment: identity, no prompts, gc in the foreground
    (no detached background processes), the credential helper for http(s) remotes and the
    deploy key for ssh remotes."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GCM_INTERACTIVE": "never",
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    if ssh is not None:
        if not is_ssh_url(url):
            raise GitInputError(
                f"git ssh key is configured but the git url {scrub_url(url)} is not an ssh URL "
                "(ssh://host/path or user@host:path)")
        env["GIT_SSH_COMMAND"] = ssh.command()
    elif "GIT_SSH" not in os.environ and "GIT_SSH_COMMAND" not in os.environ:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    env.update(credential_env(credentials, url))
    env.update(config_env(_BASE_CONFIG + credential_config(credentials, url)))
    return env
