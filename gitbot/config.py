"""Typed, validated settings from `config.yaml` (pydantic), with secrets only by reference.

Called by the CLI. Unknown keys and bad values are errors that name the file, the line and the
dotted key, e.g. `config.yaml:4: git.mode: Input should be 'push' or 'pull-request'`.
The `git:` section is in gitbot/config_git.py, `forge:` and `pullRequests:` in
gitbot/config_forge.py; this module holds the other sections, `Settings` and the loader.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from gitbot.config_forge import ForgeConfig, PullRequestsConfig
from gitbot.config_git import GitConfig, resolve_git_url
from gitbot.config_section import StrictSection, check_duration, no_query_credentials
from gitbot.core.durations import parse_duration
from gitbot.errors import InvalidInputError

DEFAULT_CONFIG = "config.yaml"


class PrometheusConfig(StrictSection):
    """The Prometheus that holds Istio's, kube-state-metrics' and Flux's series."""

    url: str = Field(default="http://127.0.0.1:9090", description="Prometheus base URL.")
    timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds per query.")
    kustomization: str = Field(default="", description="Flux Kustomization whose applied "
                               "revision counts (`gotk_resource_info`); empty: any. Plain "
                               "repositories only: in a Flux repository gitbot waits for the "
                               "Kustomizations that apply each canary.")

    @field_validator("url")
    @classmethod
    def _url_without_credentials(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a host "
                             "(e.g. http://prometheus.monitoring:9090)")
        no_query_credentials(url, "for a Prometheus that needs a token use a MetricTemplate "
                             "with a secretRef (secretsDir), or an authenticating local proxy")
        return url


class ChatConfig(StrictSection):
    """A global chat channel, like Flagger's -slack-url: used for canaries without `alerts`.

    The webhook URL is a secret: give it by reference (`addressEnv` / `addressFile`); a plain
    `address` is accepted for local endpoints.
    """

    type: Literal["slack", "msteams", "discord", "rocket", "gchat", "generic"] = Field(
        description="The chat service.")
    address: str = Field(default="", description="Webhook URL in clear, for local endpoints (a "
                         "real webhook URL is a secret: use addressEnv or addressFile).")
    address_env: str = Field(default="", alias="addressEnv",
                             description="Environment variable that holds the webhook URL.")
    address_file: str = Field(default="", alias="addressFile",
                              description="File that holds the webhook URL (relative to the "
                              "config).")
    channel: str = Field(default="general", description="Channel name (Slack-like services).")
    username: str = Field(default="gitbot", description="Name the messages are posted as.")

    def resolve_address(self, base_dir: Path) -> str:
        if self.address_env:
            return os.environ.get(self.address_env, "")
        if self.address_file:
            return (base_dir / self.address_file).read_text(encoding="utf-8").strip()
        return self.address


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class FluxConfig(StrictSection):
    """`flux.cluster`: the directory holding the Flux Kustomizations gitbot serves
    (CONTRACT.md); "" = the repository's only cluster (plain repositories: none)."""

    cluster: str = Field(default="", description="The directory holding the Flux "
                         "Kustomizations gitbot serves, e.g. clusters/production; empty: the "
                         "repository's only cluster (plain repositories: none).")
    cluster_labels: dict[str, str] = Field(
        default_factory=dict, alias="clusterLabels",
        description="Label matchers selecting this cluster's series when one Prometheus holds "
        "several clusters (Thanos, Mimir), e.g. `{cluster: prod-eu}`: added to the "
        "applied-revision queries (`gotk_resource_info` of the Kustomizations and of the "
        "HelmReleases), the Deployment readiness queries and "
        "the builtin Istio metrics (MetricTemplates are yours).")

    @field_validator("cluster_labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        bad = [name for name in labels if not _LABEL_NAME.match(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a Prometheus label name "
                             "([a-zA-Z_][a-zA-Z0-9_]*)")
        return labels


class NotificationsConfig(StrictSection):
    """How often people hear from gitbot in chat; a Canary's `gitbot.io/chat-rhythm`
    annotation overrides `rhythm` for that canary."""

    rhythm: Literal["commit", "phase"] = Field(
        default="commit", description="`commit`: a chat message for every commit gitbot makes "
        "(with the tick's alerts); `phase`: Flagger's rhythm, only the alerts (initialized, new "
        "revision, waiting for approval, promotion finished, failed), one per phase change.")


class DaemonConfig(StrictSection):
    """`gitbot run`: the HTTP endpoint and the repository rescan."""

    listen: str = Field(default="127.0.0.1:8080",
                        description="HOST:PORT of /metrics, /healthz and /readyz (port 0: any "
                        "free port, named in the 'gitbot running' log line).")
    pass_interval: float = Field(default=10.0, alias="passInterval", gt=0,
                                 description="Seconds between rescans of the repository for "
                                 "new, changed or removed canaries.")


class WebhooksConfig(StrictSection):
    """Calls of the Canaries' `analysis.webhooks` (gitbot.adapters.hook_runner, event_delivery)."""

    max_timeout: float = Field(
        default=300.0, alias="maxTimeout", gt=0, le=3600, description="Upper bound, in seconds, "
        "of a webhook's `timeout` (the deadline of its whole call, retries included): a Canary "
        "asking more gets this.")
    pass_wait: float = Field(
        default=2.0, alias="passWait", ge=0, le=60, description="The daemon: seconds a pass "
        "waits, in all, for the webhook gates of its canaries (they run concurrently); a canary "
        "whose gate has not answered by then waits for its next tick, the others go on.")


class SecurityConfig(StrictSection):
    """What a repository may refer to; `noCrossNamespaceRefs` is Flagger's
    `-no-cross-namespace-refs`: a Canary's templateRef and providerRef stay in its namespace."""

    no_cross_namespace_refs: bool = Field(
        default=False, alias="noCrossNamespaceRefs", description="Refuse a Canary's templateRef "
        "or providerRef in another namespace (Flagger's -no-cross-namespace-refs).")
    remote_bases: bool = Field(
        default=False, alias="remoteBases", description="Let kustomize fetch the remote bases "
        "of the repository's kustomizations (`https://host/org/repo//dir?ref=v1`, a patch or "
        "resource URL) at every render, never cached, only over https from public host names; "
        "false: as Flux's kustomize-controller --no-remote-bases, a Flux Kustomization that needs "
        "one is not rendered and a problem names the entry (FILE:LINE).")


class LeaseConfig(StrictSection):
    """One active instance: a lease on the state branch (gitbot.lease)."""

    enabled: bool = Field(default=True, description="Hold a lease on the state branch so that "
                          "only one gitbot instance acts; false for a single instance.")
    duration: str = Field(default="60s", description="How long the lease lasts unrenewed; "
                          "renewed every third of it, taken over only after it expired.")
    clock_skew: str = Field(default="5s", alias="clockSkew", description="Margin added to "
                            "another instance's expiry before taking its lease over.")

    @field_validator("duration", "clock_skew")
    @classmethod
    def _duration(cls, value: str, info: ValidationInfo) -> str:
        return check_duration(value, minimum=1 if info.field_name == "duration" else 0)

    def seconds(self) -> tuple[float, float]:
        """(duration, clock skew) in seconds."""
        duration, skew = parse_duration(self.duration), parse_duration(self.clock_skew)
        return float(duration or 0), float(skew or 0)



class KubernetesConfig(StrictSection):
    """Write Flagger's Canary status and Events into the cluster (gitbot.adapters.kubestatus)."""

    status: bool = Field(default=False, description="Write each Canary's status and `Synced` "
                         "Events as Flagger does (needs manifests/components/kubernetes-status).")
    kubeconfig: str = Field(default="", description="A kubeconfig file (relative to the "
                            "config); empty: the in-cluster service account.")


class Settings(StrictSection):
    git: GitConfig = Field(description="The GitOps repository.")
    prometheus: PrometheusConfig = Field(default=PrometheusConfig(), description="Prometheus.")
    flux: FluxConfig = Field(default=FluxConfig(), description="Flux: which cluster gitbot "
                             "serves.")
    forge: ForgeConfig = Field(default=ForgeConfig(), description="Where pull requests live.")
    pull_requests: PullRequestsConfig = Field(
        default=PullRequestsConfig(), alias="pullRequests",
        description="Pull-request mode (`git.mode: pull-request`): review, approvals, merge "
        "method.")
    chat: ChatConfig | None = Field(default=None, description="A global chat channel for "
                                    "canaries without `alerts` (Flagger's -slack-url).")
    notifications: NotificationsConfig = Field(
        default=NotificationsConfig(), description="Chat rhythm, for every canary (the "
        "`gitbot.io/chat-rhythm` annotation of a Canary overrides it).")
    daemon: DaemonConfig = Field(default=DaemonConfig(), description="The daemon.")
    webhooks: WebhooksConfig = Field(default=WebhooksConfig(), description="Calls of the "
                                     "Canaries' webhooks.")
    security: SecurityConfig = Field(default=SecurityConfig(), description="What a repository "
                                     "may refer to.")
    lease: LeaseConfig = Field(default=LeaseConfig(), description="One active instance: the "
                               "lease on the state branch.")
    kubernetes: KubernetesConfig = Field(default=KubernetesConfig(), description="Canary status "
                                         "and Events in Kubernetes.")
    secrets_dir: str = Field(default="", alias="secretsDir", description="Directory of Secret "
                             "values for `secretRef`s: `<secretsDir>/<namespace>/<name>/<key>` "
                             "(relative to the config).")
    base_dir: Path = Field(Path("."), exclude=True)

    def path(self, value: str) -> str:
        """A file or directory named in the config: relative to the config file's directory,
        like `git.url` and `git.workdir` (never to the current directory); "" stays ""."""
        return str((self.base_dir / value).resolve()) if value else ""

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
    base_dir = path.parent.resolve()
    git = settings.git.model_copy(update={"url": resolve_git_url(settings.git.url, base_dir)})
    return settings.model_copy(update={"base_dir": base_dir, "git": git})


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
