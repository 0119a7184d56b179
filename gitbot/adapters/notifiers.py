"""Send chat alerts through a canary's Flagger `AlertProvider`s (best effort, never raises).

`gitbot.notify` calls `plan` after each tick with the alerts a decision produced and hands the
resulting deliveries to `gitbot.adapters.chat_delivery` (background, retried); `notify` sends at
once, one attempt each. Each `analysis.alerts[]` entry receives an alert by Flagger's severity
rule (info: everything, warn: warn and error, error: error only, omitted: nothing), then its
provider gets a payload in Flagger's shape: Slack attachments (discord: Slack shape posted to
`<url>/slack`, unless the address already ends in `/slack`; rocket: Slack shape with Teams
colours), an MS Teams MessageCard, a Google Chat card, or a plain `generic` JSON document; type
`null` sends nothing. One attempt: POST JSON through `gitbot.adapters.http.bounded_request` — 5 s
for the whole call at most, no redirect to another host; a failure comes back as a `Failure`
whose text never contains the (secret) webhook address and which says whether trying again may
help (no answer, 429, 5xx). The address and token are registered with `gitbot.adapters.redact`
so no log line (urllib3's included) shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from gitbot.adapters.http import HttpError, bounded_request, bounded_session
from gitbot.adapters.redact import register_secret, register_url
from gitbot.core.spec import AlertProvider, Canary, Severity
from gitbot.core.state import AlertMessage

SecretResolver = Callable[[str, str], Mapping[str, str]]

TIMEOUT_SECONDS = 5.0
MAX_ANSWER_BYTES = 4096  # only the status matters; a longer answer is cut off
CHAT_TYPES = frozenset({"slack", "discord", "rocket", "msteams", "gchat", "generic", "null"})
_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.ERROR: 2}
_TRANSIENT = frozenset({"timeout", "connect", "request"})  # HttpError kinds worth retrying


@dataclass(frozen=True)
class ChatMessage:
    """What one chat message says, whatever the service."""

    name: str  # the canary
    namespace: str
    message: str
    severity: Severity
    link: str = ""  # commit URL, when known
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def workload(self) -> str:
        """`<canary>.<namespace>`, as Flagger's author_name/subtitle."""
        return f"{self.name}.{self.namespace}"


@dataclass(frozen=True)
class Failure:
    """Why one attempt failed; `retryable` when another attempt may succeed."""

    text: str
    retryable: bool


class Notifier(Protocol):
    """Flagger's notifier interface: post a message (None = delivered); `attempt` says more."""

    def post(self, message: ChatMessage) -> str | None: ...

    def attempt(self, message: ChatMessage, deadline_s: float = ...) -> Failure | None: ...


class NullNotifier:
    """A notifier that sends nothing (unconfigured, or provider type `null`)."""

    def post(self, message: ChatMessage) -> str | None:
        return None

    def attempt(self, message: ChatMessage, deadline_s: float = 0.0) -> Failure | None:
        return None


@dataclass(frozen=True)
class Delivery:
    """One message for one notifier; `label` prefixes its errors (`alert on-call`)."""

    notifier: Notifier
    message: ChatMessage
    label: str = ""

    def error(self, failure: Failure) -> str:
        return f"{self.label}: {failure.text}" if self.label else failure.text


class ChatNotifier:
    """Posts a Flagger-shaped payload to one chat webhook."""

    def __init__(
        self,
        kind: str,
        address: str,
        *,
        channel: str = "general",
        username: str = "flagger",
        token: str = "",
        proxy: str = "",
        label: str = "",
    ) -> None:
        if kind not in CHAT_TYPES or kind == "null":
            raise ValueError(f"unsupported alert provider type {kind!r}")
        register_url(address)
        register_secret(token)
        register_url(proxy, path_is_secret=False)
        self.kind = kind
        self._url = discord_slack_url(address) if kind == "discord" else address
        self.channel = channel
        self.username = username
        self._token = token
        self._proxy = proxy
        self.label = label or kind

    def post(self, message: ChatMessage) -> str | None:
        failure = self.attempt(message)
        return failure.text if failure else None

    def attempt(self, message: ChatMessage, deadline_s: float = TIMEOUT_SECONDS) -> Failure | None:
        """One POST, at most `deadline_s` (never more than TIMEOUT_SECONDS) in all."""
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        proxies = {"http": self._proxy, "https": self._proxy} if self._proxy else None
        try:
            with bounded_session() as session:
                reply = bounded_request(
                    session, "POST", self._url, deadline_s=min(deadline_s, TIMEOUT_SECONDS),
                    max_body=MAX_ANSWER_BYTES, truncate=True,
                    json=build_payload(self.kind, message, self.channel, self.username),
                    headers=headers, proxies=proxies,
                )
        except HttpError as err:
            return Failure(f"{self.label}: {err.message}", err.kind in _TRANSIENT)
        if 200 <= reply.status < 300:
            return None
        retryable = reply.status == 429 or reply.status >= 500
        return Failure(f"{self.label}: HTTP {reply.status}", retryable)


def discord_slack_url(address: str) -> str:
    """Discord's Slack-compatible endpoint: `<address>/slack`, unless it already ends so."""
    parts = urlsplit(address)
    path = parts.path.rstrip("/")
    if not path.endswith("/slack"):
        path += "/slack"
    return urlunsplit(parts._replace(path=path))


def receives(entry: Severity | None, severity: Severity) -> bool:
    """Flagger's filter: an entry gets alerts at or above its severity; no severity, nothing."""
    return entry is not None and _RANK[severity] >= _RANK[entry]


def notify(
    canary: Canary,
    alert: AlertMessage,
    providers: Mapping[str, AlertProvider],
    resolve_secret: SecretResolver,
    *,
    commit_url: str = "",
    fields: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Send `alert` to every matching alert entry now, one attempt each; returns the errors."""
    errors: list[str] = []
    for item in plan(canary, alert, providers, resolve_secret, commit_url=commit_url,
                     fields=fields):
        if isinstance(item, str):
            errors.append(item)
        elif failure := item.notifier.attempt(item.message):
            errors.append(item.error(failure))
    return errors


def plan(
    canary: Canary,
    alert: AlertMessage,
    providers: Mapping[str, AlertProvider],
    resolve_secret: SecretResolver,
    *,
    commit_url: str = "",
    fields: Sequence[tuple[str, str]] = (),
) -> list[Delivery | str]:
    """For each matching alert entry in order, what to send, or why it cannot be sent.

    `providers` maps "namespace/name" to AlertProvider. `fields` (Target, Failed checks
    threshold, ...) are shown when `alert.with_metadata` is set, as Flagger does. Never raises.
    """
    message = ChatMessage(
        name=canary.name,
        namespace=canary.namespace,
        message=alert.message,
        severity=alert.severity,
        link=commit_url,
        fields=tuple(fields) if alert.with_metadata else (),
    )
    planned: list[Delivery | str] = []
    for entry in canary.analysis.alerts:
        if not receives(entry.severity, alert.severity):
            continue
        key = f"{entry.provider_ref.namespace or canary.namespace}/{entry.provider_ref.name}"
        provider = providers.get(key)
        if provider is None:
            planned.append(f"alert {entry.name}: AlertProvider {key} not found")
            continue
        try:
            notifier = notifier_for(provider, resolve_secret)
        except Exception as exc:  # a bad provider or secret must never break a tick
            planned.append(f"alert {entry.name}: AlertProvider {key}: {exc}")
            continue
        planned.append(Delivery(notifier, message, f"alert {entry.name}"))
    return planned


def notifier_for(provider: AlertProvider, resolve_secret: SecretResolver) -> Notifier:
    """Build the notifier of a provider; the secret's `address`/`token`/`proxy` win."""
    if provider.type == "null":
        return NullNotifier()
    secret: Mapping[str, str] = {}
    if provider.secret_ref:
        secret = resolve_secret(provider.namespace, provider.secret_ref)
    address = secret.get("address") or provider.address
    if not address:
        raise ValueError("no address (set spec.address or the secret key 'address')")
    return ChatNotifier(
        provider.type,
        address,
        channel=provider.channel,
        username=provider.username,
        token=secret.get("token", ""),
        proxy=secret.get("proxy") or provider.proxy,
        label=f"AlertProvider {provider.key} ({provider.type})",
    )


def build_payload(kind: str, msg: ChatMessage, channel: str, username: str) -> dict[str, Any]:
    """The JSON body for one chat service, in Flagger's shapes."""
    if kind in ("slack", "discord"):
        return _slack(msg, channel, username, ("good", "danger"))
    if kind == "rocket":
        return _slack(msg, channel, username, ("#0076D7", "#FF0000"))
    if kind == "msteams":
        return _teams(msg)
    if kind == "gchat":
        return _gchat(msg)
    if kind == "generic":
        return _generic(msg)
    raise ValueError(f"unsupported alert provider type {kind!r}")


def _slack(
    msg: ChatMessage, channel: str, username: str, colours: tuple[str, str]
) -> dict[str, Any]:
    text = f"{msg.message}\n<{msg.link}|View commit>" if msg.link else msg.message
    attachment = {
        "color": colours[1] if msg.severity is Severity.ERROR else colours[0],
        "author_name": msg.workload,
        "text": text,
        "mrkdwn_in": ["text"],
        "fields": [{"title": k, "value": v, "short": False} for k, v in msg.fields],
    }
    return {
        "channel": channel,
        "username": username,
        "icon_emoji": ":rocket:",
        "attachments": [attachment],
    }


def _teams(msg: ChatMessage) -> dict[str, Any]:
    title = f"{msg.message} [View commit]({msg.link})" if msg.link else msg.message
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000" if msg.severity is Severity.ERROR else "0076D7",
        "summary": msg.workload,
        "sections": [
            {
                "activityTitle": title,
                "activitySubtitle": msg.workload,
                "facts": [{"name": k, "value": v} for k, v in msg.fields],
            }
        ],
    }


def _gchat(msg: ChatMessage) -> dict[str, Any]:
    text = f'{msg.message} <a href="{msg.link}">View commit</a>' if msg.link else msg.message
    sections: list[dict[str, Any]] = [{"widgets": [{"textParagraph": {"text": text}}]}]
    sections += [{"header": k, "widgets": [{"textParagraph": {"text": v}}]} for k, v in msg.fields]
    return {
        "cards": [{"header": {"title": "Flagger", "subtitle": msg.workload}, "sections": sections}]
    }


def _generic(msg: ChatMessage) -> dict[str, Any]:
    return {
        "name": msg.name,
        "namespace": msg.namespace,
        "severity": msg.severity.value,
        "message": msg.message,
        "link": msg.link,
        "fields": dict(msg.fields),
    }
