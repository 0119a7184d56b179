"""The `git:` section of `config.yaml`: the remote, its branch and mode, the author of gitbot's
commits, and the credentials by reference (an https token, an ssh deploy key).

Called by gitbot/config.py (the `Settings.git` field and `load_settings`, which makes a relative
remote path absolute with `resolve_git_url`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from gitbot.adapters.git_credentials import is_ssh_url
from gitbot.config_section import StrictSection, no_query_credentials


class CredentialsRef(StrictSection):
    """An https token by reference: the name of an environment variable or a file path."""

    username: str = Field(
        default="x-access-token", description="User name sent with the token over https.")
    token_env: str = Field(default="", alias="tokenEnv",
                           description="Environment variable that holds the token (set exactly "
                           "one of tokenEnv and tokenFile).")
    token_file: str = Field(default="", alias="tokenFile",
                            description="File that holds the token (relative to the config).")


class SshConfig(StrictSection):
    """An ssh deploy key by file: Flux's `identity` and `known_hosts` Secret keys, mounted."""

    key_file: str = Field(alias="keyFile", min_length=1,
                          description="Private key file (Flux's `identity`), relative to the "
                          "config.")
    known_hosts_file: str = Field(default="", alias="knownHostsFile",
                                  description="known_hosts file (Flux's `known_hosts`), "
                                  "relative to the config; an unknown host key is refused.")


class AuthorConfig(StrictSection):
    """The author and committer of gitbot's commits."""

    name: str = Field(default="gitbot", description="Author name of gitbot's commits.")
    email: str = Field(default="gitbot@users.noreply.localhost",
                       description="Author e-mail of gitbot's commits.")


class GitConfig(StrictSection):
    """The GitOps repository gitbot commits to."""

    url: str = Field(description="Any git remote: a path (relative to the config file's "
                     "directory), file://, ssh or https URL; never with a token in it.")
    branch: str = Field(default="main", description="The branch Flux applies.")
    mode: Literal["push", "pull-request"] = Field(
        default="push", description="push: commit every step to `branch`; pull-request: every "
        "change is a pull request into `branch` (see `forge`, `pullRequests`).")
    workdir: str = Field(default="", description="The working copy (a cache; relative to the "
                         "config); default: a directory under $XDG_CACHE_HOME/gitbot "
                         "(~/.cache/gitbot). gitbot writes its step commits without `git commit` "
                         "and brings git's index in step only when a git command needs it or it "
                         "exits, so while the daemon runs, `git status` there may list the files "
                         "of its latest commits as changed (`MM`): the commits hold them. It runs "
                         "`git gc --auto` every 100 fetches.")
    state_branch: str = Field(default="gitbot/state", alias="stateBranch",
                              description="Branch where gitbot keeps rollout state (outside "
                              "Flux's path).")
    author: AuthorConfig = Field(default=AuthorConfig(), description="Author of gitbot's commits.")
    credentials: CredentialsRef | None = Field(
        default=None, description="https remotes: the token by reference.")
    ssh: SshConfig | None = Field(default=None,
                                  description="ssh remotes: a deploy key by file.")
    push_retries: int = Field(default=5, alias="pushRetries", ge=0, le=50,
                              description="Fetch-rebase-push attempts when the branch moved.")
    commit_url: str = Field(default="", alias="commitUrl",
                            description="Link to a commit in chat messages, with `{sha}`, e.g. "
                            "https://github.com/o/r/commit/{sha}.")

    @field_validator("ssh")
    @classmethod
    def _ssh_needs_an_ssh_url(cls, ssh: SshConfig | None, info: ValidationInfo) -> SshConfig | None:
        url = info.data.get("url")
        if ssh is not None and isinstance(url, str) and not is_ssh_url(url):
            raise ValueError(
                "a deploy key needs an ssh git.url (ssh://host/path or user@host:path)"
            )
        return ssh

    @field_validator("url")
    @classmethod
    def _no_inline_credentials(cls, url: str) -> str:
        head, sep, rest = url.partition("://")
        if sep and "@" in rest.split("/", 1)[0] and head in ("http", "https"):
            raise ValueError(
                "must not carry credentials; put the token in an environment variable or a "
                "file and name it under git.credentials (tokenEnv or tokenFile)"
            )
        no_query_credentials(url, "put the token in an environment variable or a file and "
                             "name it under git.credentials (tokenEnv or tokenFile)")
        return url


def resolve_git_url(url: str, base_dir: Path) -> str:
    """A relative path remote becomes absolute against the config file's directory.

    URLs (`scheme://`), scp-like ssh remotes and absolute paths are returned unchanged, so
    clone and fetch see the same remote whatever the working directory.
    """
    if "://" in url or is_ssh_url(url):
        return url
    path = Path(url).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())
