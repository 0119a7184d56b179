"""Typed, validated settings from `config.yaml` (pydantic), with secrets only by reference.

Called by the CLI. Unknown keys and bad values are errors that name the file, the line and the
dotted key, e.g. `config.yaml:4: git.mode: Input should be 'push' or 'pull-request'`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from gitbot.adapters.git_credentials import is_ssh_url, query_credentials
from gitbot.errors import InvalidInputError

DEFAULT_CONFIG = "config.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CredentialsRef(_Strict):
    """An https token by reference: the name of an environment variable or a file path."""

    username: str = "x-access-token"
    token_env: str = Field(default="", alias="tokenEnv")
    token_file: str = Field(default="", alias="tokenFile")


class SshConfig(_Strict):
    """An ssh deploy key by file: Flux's `identity` and `known_hosts` Secret keys, mounted."""

    key_file: str = Field(alias="keyFile", min_length=1)
    known_hosts_file: str = Field(default="", alias="knownHostsFile")


class AuthorConfig(_Strict):
    name: str = "gitbot"
    email: str = "gitbot@users.noreply.localhost"


class GitConfig(_Strict):
    url: str
    branch: str = "main"
    mode: Literal["push", "pull-request"] = "push"
    workdir: str = ""  # the working copy; default: a directory under ~/.cache/gitbot
    state_branch: str = Field(default="gitbot/state", alias="stateBranch")
    author: AuthorConfig = AuthorConfig()
    credentials: CredentialsRef | None = None
    ssh: SshConfig | None = None
    push_retries: int = Field(default=5, alias="pushRetries", ge=0, le=50)
    commit_url: str = Field(default="", alias="commitUrl")  # e.g. https://github.com/o/r/commit/{sha}

    @field_validator("mode")
    @classmethod
    def _mode_available(cls, mode: str) -> str:
        if mode == "pull-request":
            raise ValueError(
                "pull-request mode is not available yet; use `push` (gitbot would otherwise "
                "commit straight to the branch you meant to protect)"
            )
        return mode

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
        _no_query_credentials(url, "put the token in an environment variable or a file and "
                              "name it under git.credentials (tokenEnv or tokenFile)")
        return url


def _no_query_credentials(url: str, instead: str) -> None:
    """Refuse `?access_token=…` and the like, naming the parameter, never its value."""
    names = query_credentials(url)
    if names:
        raise ValueError(
            f"must not carry credentials in its query string ({', '.join(names)}); {instead}"
        )


class PrometheusConfig(_Strict):
    url: str = "http://127.0.0.1:9090"
    timeout: float = Field(default=5.0, gt=0, le=120)
    kustomization: str = ""  # Flux Kustomization whose applied revision counts; "" = any

    @field_validator("url")
    @classmethod
    def _url_without_credentials(cls, url: str) -> str:
        _no_query_credentials(url, "for a Prometheus that needs a token use a MetricTemplate "
                              "with a secretRef (secretsDir), or an authenticating local proxy")
        return url


class ChatConfig(_Strict):
    """A global chat channel, like Flagger's -slack-url: used for canaries without `alerts`.

    The webhook URL is a secret: give it by reference (`addressEnv` / `addressFile`); a plain
    `address` is accepted for local endpoints.
    """

    type: Literal["slack", "msteams", "discord", "rocket", "gchat", "generic"]
    address: str = ""
    address_env: str = Field(default="", alias="addressEnv")
    address_file: str = Field(default="", alias="addressFile")
    channel: str = "general"
    username: str = "gitbot"

    def resolve_address(self, base_dir: Path) -> str:
        if self.address_env:
            return os.environ.get(self.address_env, "")
        if self.address_file:
            return (base_dir / self.address_file).read_text(encoding="utf-8").strip()
        return self.address


class FluxConfig(_Strict):
    """`flux.cluster`: the directory holding the Flux Kustomizations gitbot serves
    (CONTRACT.md); "" = the repository's only cluster (plain repositories: none)."""

    cluster: str = ""


class ForgeConfig(_Strict):
    type: Literal["local", "github"] = "local"


class DaemonConfig(_Strict):
    listen: str = "127.0.0.1:8080"
    pass_interval: float = Field(default=10.0, alias="passInterval", gt=0)


class SecurityConfig(_Strict):
    """What a repository may refer to; `noCrossNamespaceRefs` is Flagger's
    `-no-cross-namespace-refs`: a Canary's templateRef and providerRef stay in its namespace."""

    no_cross_namespace_refs: bool = Field(default=False, alias="noCrossNamespaceRefs")


class Settings(_Strict):
    git: GitConfig
    prometheus: PrometheusConfig = PrometheusConfig()
    flux: FluxConfig = FluxConfig()
    forge: ForgeConfig = ForgeConfig()
    chat: ChatConfig | None = None
    daemon: DaemonConfig = DaemonConfig()
    security: SecurityConfig = SecurityConfig()
    secrets_dir: str = Field(default="", alias="secretsDir")  # Secret values for secretRef, by file
    base_dir: Path = Field(Path("."), exclude=True)

    def workdir(self) -> Path:
        if self.git.workdir:
            return (self.base_dir / self.git.workdir).resolve()
        digest = hashlib.sha256(f"{self.git.url}#{self.git.branch}".encode()).hexdigest()[:12]
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return cache / "gitbot" / digest


def config_path(explicit: str | None) -> Path:
    """`--config`, else `$GITBOT_CONFIG`, else `./config.yaml`."""
    return Path(explicit or os.environ.get("GITBOT_CONFIG") or DEFAULT_CONFIG)


def load_settings(path: Path) -> Settings:
    """Read and validate a config file; every problem is reported with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot read config: {err.strerror}") from None
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise InvalidInputError(f"{path}:{line}: invalid YAML: {err}") from None
    if not isinstance(data, CommentedMap):
        raise InvalidInputError(f"{path}:1: the config must be a mapping with a `git:` section")
    try:
        settings = Settings.model_validate(_plain(data))
    except ValidationError as err:
        raise InvalidInputError(_format_errors(path, data, err)) from None
    return settings.model_copy(update={"base_dir": path.parent.resolve()})


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _format_errors(path: Path, data: CommentedMap, err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        loc = tuple(item["loc"])
        field = ".".join(str(p) for p in loc)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{path}:{_line_of(data, loc)}: {field}: {message}")
    return "\n".join(lines)


def _line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest existing key along `loc`."""
    line, node = 1, data
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line
