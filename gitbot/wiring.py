"""Build the reconciler and its adapters from `Settings`; the one place objects are wired.

Called by the CLI, the daemon and the demo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitbot.adapters.git import Credentials, GitWorkspace
from gitbot.adapters.git_credentials import SshIdentity
from gitbot.adapters.notifiers import ChatNotifier, Notifier
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.adapters.secrets import SecretResolver
from gitbot.adapters.specs import load_repository
from gitbot.adapters.statestore import GitStateStore
from gitbot.config import Settings
from gitbot.core.spec import AlertProvider
from gitbot.errors import InvalidInputError
from gitbot.notify import Announcer
from gitbot.observe import Observer
from gitbot.reconciler import CrashHook, Reconciler, crash_hook_from_env


@dataclass
class App:
    """The long-lived objects of one gitbot process."""

    settings: Settings
    workspace: GitWorkspace
    store: GitStateStore
    reconciler: Reconciler
    metrics: PrometheusMetrics

    def close(self) -> None:
        self.workspace.close()


def build_app(settings: Settings, *, crash: CrashHook | None = None) -> App:
    git = settings.git
    creds = None
    if git.credentials is not None:
        creds = Credentials(
            username=git.credentials.username,
            token_env=git.credentials.token_env,
            token_file=git.credentials.token_file,
        )
    ssh = None
    if git.ssh is not None:
        ssh = SshIdentity(
            key_file=str(settings.base_dir / git.ssh.key_file),
            known_hosts_file=(
                str(settings.base_dir / git.ssh.known_hosts_file)
                if git.ssh.known_hosts_file else ""),
        )
    workspace = GitWorkspace(
        git.url,
        git.branch,
        settings.workdir(),
        author_name=git.author.name,
        author_email=git.author.email,
        credentials=creds,
        ssh=ssh,
        push_retries=git.push_retries,
    )
    secrets_dir = Path(settings.base_dir, settings.secrets_dir) if settings.secrets_dir else None
    secrets = SecretResolver(secrets_dir)
    metrics = PrometheusMetrics(settings.prometheus.url, timeout=settings.prometheus.timeout)
    store = GitStateStore(workspace, state_branch(settings))
    observer = Observer(
        workspace, metrics, secrets, kustomization=settings.prometheus.kustomization,
        approvals=store.approval,
    )

    strict_refs = settings.security.no_cross_namespace_refs

    def providers() -> Mapping[str, AlertProvider]:
        specs = load_repository(workspace.root, no_cross_namespace_refs=strict_refs,
                                cluster=settings.flux.cluster)
        return {p.key: p for p in specs.providers}

    announcer = Announcer(
        providers, secrets, commit_url=git.commit_url, global_chat=_global_chat(settings)
    )
    reconciler = Reconciler(
        workspace, store, observer, announcer, crash=crash or crash_hook_from_env(os.environ),
        no_cross_namespace_refs=strict_refs, flux_cluster=settings.flux.cluster,
    )
    return App(settings, workspace, store, reconciler, metrics)


def state_branch(settings: Settings) -> str:
    """`git.stateBranch`; unset with `flux.cluster` set, one per cluster (`gitbot/state-clusters-
    prod`), so that gitbots serving two clusters of one repository keep separate states."""
    git, cluster = settings.git, settings.flux.cluster.strip("/")
    if "state_branch" in git.model_fields_set or not cluster:
        return git.state_branch
    return f"{git.state_branch}-{cluster.replace('/', '-')}"


def _global_chat(settings: Settings) -> Notifier | None:
    chat = settings.chat
    if chat is None:
        return None
    address = chat.resolve_address(settings.base_dir)
    if not address:
        raise InvalidInputError(
            f"chat: no webhook address (is {chat.address_env or chat.address_file} set?)"
        )
    return ChatNotifier(chat.type, address, channel=chat.channel, username=chat.username,
                        label=f"chat ({chat.type})")
