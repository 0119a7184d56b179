"""Build the reconciler and its adapters from `Settings`; the one place objects are wired.

Called by the CLI, the daemon and the demo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitbot.adapters import background
from gitbot.adapters.branch_snapshot import BranchSnapshot
from gitbot.adapters.event_delivery import EventSender
from gitbot.adapters.git import Credentials, GitWorkspace
from gitbot.adapters.git_credentials import SshIdentity, read_token, workspace_env
from gitbot.adapters.hook_runner import HookRunner
from gitbot.adapters.notifiers import ChatNotifier, Notifier
from gitbot.adapters.prom_batch import BatchedMetrics
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.adapters.repo_index import RepoIndex
from gitbot.adapters.secrets import SecretResolver
from gitbot.adapters.statestore import GitStateStore
from gitbot.config import Settings
from gitbot.core.spec import AlertProvider
from gitbot.errors import InvalidInputError
from gitbot.landing_pr import PullRequestLanding
from gitbot.lease import FencedFiles, LeaseKeeper, build_lease
from gitbot.notify import Announcer
from gitbot.observe import Observer
from gitbot.pass_batch import StagedFiles
from gitbot.pullrequests import PullRequestDriver, build_driver
from gitbot.reconciler import CrashHook, Reconciler, crash_hook_from_env


@dataclass
class App:
    """The long-lived objects of one gitbot process."""

    settings: Settings
    workspace: GitWorkspace
    store: GitStateStore
    reconciler: Reconciler
    metrics: PrometheusMetrics
    lease: LeaseKeeper | None = None
    pull_requests: PullRequestDriver | None = None  # pull-request mode

    def close(self, drain: float | None = None) -> None:
        """Release everything; queued chat messages and event hooks get `drain` seconds (the
        daemon's short default: it must stop within the pod's grace period)."""
        self.reconciler.announcer.close(background.DRAIN_SECONDS if drain is None else drain)
        self.reconciler.observer.close()  # webhook calls in flight: never waited for
        self.reconciler.repo.close()  # the render cache's artifact copy
        self.workspace.close()
        if self.pull_requests is not None:
            shutdown = getattr(self.pull_requests.forge, "shutdown", None)
            if shutdown is not None:
                shutdown()


def build_app(settings: Settings, *, crash: CrashHook | None = None) -> App:
    git = settings.git
    creds = None
    if git.credentials is not None:
        creds = Credentials(
            username=git.credentials.username,
            token_env=git.credentials.token_env,
            token_file=settings.path(git.credentials.token_file),
        )
    ssh = None
    if git.ssh is not None:
        ssh = SshIdentity(
            key_file=settings.path(git.ssh.key_file),
            known_hosts_file=settings.path(git.ssh.known_hosts_file),
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
    # builtin metrics and readiness: one query per pass for every canary (prom_batch)
    metrics = BatchedMetrics(settings.prometheus.url, timeout=settings.prometheus.timeout,
                             cluster_labels=settings.flux.cluster_labels)
    lease = build_lease(settings.lease, workspace, state_branch(settings))
    # the state branch read once per pass (BranchSnapshot), written under the lease's fence
    # push mode holds the states of a pass back for its one atomic push (pass_batch)
    staging = StagedFiles(FencedFiles(BranchSnapshot(workspace), lease))
    store = GitStateStore(staging, state_branch(settings))
    strict_refs = settings.security.no_cross_namespace_refs
    repo = RepoIndex(workspace.root, workspace.changed_paths,
                     no_cross_namespace_refs=strict_refs, cluster=settings.flux.cluster,
                     remote_bases=settings.security.remote_bases, head=workspace.head)
    observer = Observer(
        workspace, metrics, secrets, kustomization=settings.prometheus.kustomization,
        approvals=store.approval, manifests=repo.editor,
        hooks=HookRunner(max_timeout_s=settings.webhooks.max_timeout),
    )

    def providers() -> Mapping[str, AlertProvider]:
        return {p.key: p for p in repo.specs().providers}

    announcer = Announcer(
        providers, secrets, commit_url=git.commit_url, global_chat=_global_chat(settings),
        rhythm=settings.notifications.rhythm,
        events=EventSender(max_timeout_s=settings.webhooks.max_timeout),
    )
    crash = crash or crash_hook_from_env(os.environ)
    landing = _pull_request_landing(settings, workspace, store, creds, ssh, crash)
    reconciler = Reconciler(
        workspace, store, observer, announcer, crash=crash,
        no_cross_namespace_refs=strict_refs, landing=landing, flux_cluster=settings.flux.cluster,
        repo=repo, staging=staging if landing is None else None,
    )
    if settings.kubernetes.status:
        from gitbot.adapters.kubestatus import kube_status_listener

        announcer.listeners.append(kube_status_listener(settings.path(settings.kubernetes.kubeconfig)))
    driver = landing.driver if landing is not None else None
    return App(settings, workspace, store, reconciler, metrics, lease=lease,
               pull_requests=driver)


def _pull_request_landing(
    settings: Settings, workspace: GitWorkspace, store: GitStateStore,
    creds: Credentials | None, ssh: SshIdentity | None, crash: CrashHook,
) -> PullRequestLanding | None:
    """pull-request mode's landing (None in push mode: the reconciler pushes)."""
    if settings.git.mode != "pull-request":
        return None
    git = settings.git
    env = workspace_env(git.url, git.author.name, git.author.email, creds, ssh)
    driver = build_driver(settings, workspace, workspace.root, env,
                          secrets=lambda: [t for t in [read_token(creds)] if t])
    prs = settings.pull_requests
    return PullRequestLanding(workspace, store, driver, review=frozenset(prs.review),
                              approvals=prs.approvals, crash=crash)


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
