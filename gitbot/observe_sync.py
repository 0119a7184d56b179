"""The applied-revision gate of a tick: does the cluster run gitbot's last commit for a canary?

Called by `gitbot.observe.Observer` before anything is measured (a tick while the cluster still
runs the previous step would measure the old weights). Asks Prometheus for Flux's
`gotk_resource_info` once per pass, follows the commit graph for a descendant of gitbot's
commit, and, without Flux's series or for an ExternalArtifact digest without its Git origin,
waits one analysis interval after gitbot's commit (said once in the log).
"""

from __future__ import annotations

import logging
from datetime import datetime

from gitbot.adapters.flux_layout import own_name
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.spec import Canary
from gitbot.errors import RetryableError
from gitbot.history import last_gitbot_commit

log = logging.getLogger("gitbot.observe")


class ClusterSync:
    """The gate, with this pass' answer about Flux's applied revision; one per `Observer`."""

    def __init__(self, workspace: GitWorkspace, metrics: PrometheusMetrics,
                 kustomization: str = "") -> None:
        self.ws = workspace
        self.metrics = metrics
        self.kustomization = kustomization
        self._warned_no_flux = False
        self._warned_artifact = False  # an ExternalArtifact digest without its Git origin
        # this pass' answer about Flux's applied revision: (revisions,), an error, or not asked
        self._applied: tuple[dict[tuple[str, str], str] | None] | RetryableError | None = None
        self._ancestors: dict[str, frozenset[str]] = {}
        self._in_pass = False

    def begin_pass(self) -> None:
        """Flux's applied revision is asked again, once for all canaries of the pass."""
        self._applied, self._in_pass = None, True
        if len(self._ancestors) > 8:
            self._ancestors.clear()

    def end_pass(self) -> None:
        """Answers are asked afresh again (ticks outside a pass)."""
        self._applied, self._in_pass = None, False

    def _applied_kustomizations(self) -> dict[tuple[str, str], str] | None:
        """`metrics.applied_kustomizations()`, asked once per pass (a failure too is kept)."""
        if self._applied is None or not self._in_pass:
            try:
                self._applied = (self.metrics.applied_kustomizations(),)
            except RetryableError as err:
                self._applied = err
        answer = self._applied
        if isinstance(answer, RetryableError):
            raise answer
        return answer[0]

    def cluster_synced(self, canary: Canary, history: list[CommitInfo], now: datetime,
                       applying: frozenset[tuple[str, str]] = frozenset()) -> bool:
        """`synced_to` the canary's last commit in `history` (newest first)."""
        return self.synced_to(canary, last_gitbot_commit(history, canary.key), now, applying)

    def synced_to(self, canary: Canary, last: CommitInfo | None, now: datetime,
                  applying: frozenset[tuple[str, str]] = frozenset()) -> bool:
        """True when the cluster runs `last`, gitbot's last commit for this canary (or a
        descendant; True without one).

        `applying`: the (namespace, name) of the Flux Kustomizations that apply the canary's
        objects (a Flux repository): each of them that this cluster's series show must have
        applied it, and at least one must show. Otherwise any Kustomization (or the configured
        `prometheus.kustomization`) that applied it counts.
        """
        if last is None:
            return True
        try:
            applied = self._applied_kustomizations()
        except RetryableError as err:
            log.warning("%s: cannot tell which commit the cluster runs (%s); holding",
                        canary.key, err)
            return False
        if applied is None:
            return self._fallback_synced(canary, last, now)
        if applying:
            shas = [sha for (namespace, name), sha in applied.items()
                    if any(name == n and namespace in ("", ns) for ns, n in applying)]
            known = [sha for sha in shas if sha]
            if len(known) < len(shas) and not self._artifact_waited(canary, last, now):
                return False
            return bool(shas) and all(self._descends(sha, last.sha) for sha in known)
        shas = [sha for (_ns, name), sha in applied.items() if self._counts(name)]
        if any(self._descends(sha, last.sha) for sha in shas if sha):
            return True
        return "" in shas and self._artifact_waited(canary, last, now)

    def _artifact_waited(self, canary: Canary, last: CommitInfo, now: datetime) -> bool:
        """For a Kustomization whose revision is an ExternalArtifact digest without its Git
        origin: one analysis interval has passed since gitbot's commit (said once)."""
        if not self._warned_artifact:
            log.warning(
                "a Flux Kustomization applying canaries reports an ExternalArtifact digest, not a "
                "commit, and gotk_resource_info has no origin_revision label "
                "(status.lastAppliedOriginRevision, README: Flux's monitoring): gitbot waits one "
                "analysis interval after each of its commits before counting a tick for it"
            )
            self._warned_artifact = True
        return _interval_passed(canary, last, now)

    def _counts(self, kustomization: str) -> bool:
        return not self.kustomization or kustomization == self.kustomization

    def _descends(self, applied: str, ours: str) -> bool:
        if applied == ours:
            return True
        found = self._ancestors.get(applied)
        if found is None:
            found = self.ws.ancestors(applied)
            if found:  # a commit's ancestors never change (an unknown one may be fetched later)
                self._ancestors[applied] = found
        return ours in found

    def _fallback_synced(self, canary: Canary, last: CommitInfo, now: datetime) -> bool:
        if not self._warned_no_flux:
            log.warning(
                "Prometheus has no gotk_resource_info series (Flux's monitoring): gitbot cannot "
                "see which commit the cluster runs, so it waits one analysis interval after each "
                "of its commits before counting a tick"
            )
            self._warned_no_flux = True
        return _interval_passed(canary, last, now)


def applying_kustomizations(flux: FluxSpecs | None, canary: Canary) -> frozenset[tuple[str, str]]:
    """The Flux Kustomizations applying a canary's objects: the team's (target, Canary), gitbot's
    own for it (`gitbot-<name>`, the generated objects) and the cluster's root (which creates
    gitbot's). Empty outside a Flux repository."""
    if flux is None or canary.key not in flux.kustomizations:
        return frozenset()
    team = flux.rendered(canary).kustomization
    root = flux.view.kustomizations[0].kustomization
    return frozenset({(team.namespace, team.name), (team.namespace, own_name(team)),
                      (root.namespace, root.name)})


def _interval_passed(canary: Canary, last: CommitInfo, now: datetime) -> bool:
    """One analysis interval has passed since gitbot's commit `last`."""
    committed = datetime.fromisoformat(last.time.replace("Z", "+00:00"))
    return (now - committed).total_seconds() >= canary.analysis.interval_seconds
