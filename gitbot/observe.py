"""Build the `Observation` for one canary tick: every read the decision needs, done up front.

Called by the reconciler. Reads the manifests (target revision, bootstrap objects, replicas),
asks Prometheus which commit the cluster has applied, the readiness of the canary and the
primary, and the metrics; calls the webhooks that `plan_tick` asks for, through the
`HookRunner` (concurrently for the canaries of a pass: a gate still running makes the
observation `hooks_waiting`, and the reconciler settles those after the pass). While the
cluster has not applied gitbot's last commit for an active run (`gitbot.observe_sync`), nothing
is measured or called: the tick would measure the old weights.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_routing import changed_fields
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.adapters.helm_gate import HelmGate
from gitbot.adapters.hook_runner import HookRunner
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.adapters.specs import SpecSet
from gitbot.core.analysis import evaluate_metric
from gitbot.core.plan import ANALYSIS_PHASES, IDLE_PHASES, plan_tick
from gitbot.core.spec import Canary, MetricTemplate, WebhookType
from gitbot.core.state import (
    ACTIVE_PHASES,
    HookResult,
    MetricResult,
    Observation,
    Readiness,
    RolloutState,
)
from gitbot.errors import InvalidInputError
from gitbot.observe_sync import ClusterSync, applying_kustomizations

log = logging.getLogger("gitbot.observe")

SecretLookup = Callable[[str, str], Mapping[str, str]]
#: Told of every metric analysis: the canary, its results, how many queries failed.
MetricListener = Callable[[Canary, tuple[MetricResult, ...], int], None]


class Observer:
    """Reads the world for the reconciler; one instance per process."""

    def __init__(
        self,
        workspace: GitWorkspace,
        metrics: PrometheusMetrics,
        secrets: SecretLookup,
        *,
        kustomization: str = "",
        approvals: Callable[[str], Mapping[str, str] | None] = lambda _key: None,
        manifests: Callable[[FluxSpecs | None, Canary | None], ManifestEditor] | None = None,
        hooks: HookRunner | None = None,
    ) -> None:
        self.hooks = hooks or HookRunner()  # gate calls on background threads
        self.approvals = approvals
        # the reconciler's shared picture (`RepoIndex.editor`); a fresh read when not given
        self.manifests = manifests or (lambda flux, canary: editor_for(workspace.root, flux,
                                                                         canary))
        self.ws = workspace
        self.metrics = metrics
        self.secrets = secrets
        self.sync = ClusterSync(workspace, metrics, kustomization)
        self.helm_gate = HelmGate(metrics.query_series,  # helm-controller's releases
                                  getattr(metrics, "cluster_labels", None))
        self.metric_listeners: list[MetricListener] = []  # the daemon's Flagger metrics

    def begin_pass(self, canaries: Iterable[Canary] = ()) -> None:
        """A new pass over `canaries`: Flux's applied revision is asked again (once for all
        canaries), builtin metrics once for all of them (when the metrics batch them)."""
        self.sync.begin_pass()
        self.hooks.begin_pass()
        begin = getattr(self.metrics, "begin_pass", None)
        if callable(begin):
            begin(list(canaries))

    def prefetch(self, only: Collection[str] | None) -> None:
        """A pass over `only` (None: all) is about to sync: Prometheus may be asked meanwhile
        (`gitbot.adapters.prom_prefetch`)."""
        prefetch = getattr(self.metrics, "prefetch", None)
        if callable(prefetch):
            prefetch(only)

    def end_pass(self) -> None:
        """The pass ended: answers are asked afresh again (ticks outside a pass)."""
        self.sync.end_pass()
        end = getattr(self.metrics, "end_pass", None)
        if callable(end):
            end()

    def close(self) -> None:
        self.hooks.shutdown()
        close = getattr(self.metrics, "close", None)
        if callable(close):  # its sessions, and the workers asking queries ahead
            close()

    def observe(
        self,
        canary: Canary,
        state: RolloutState,
        specs: SpecSet,
        last: CommitInfo | None,
        now: datetime,
    ) -> Observation:
        """`last`: gitbot's last commit for the canary (`HistoryIndex.last_for`)."""
        flux = specs.flux  # a Flux repository: the rendered target is what runs
        editor = self.manifests(flux, canary)  # gitbot's objects are this cluster's
        revision = flux.revision(canary) if flux is not None else editor.target_revision(canary)
        bootstrapped = editor.is_bootstrapped(canary)
        synced = (self.sync.synced_to(canary, last, now, applying_kustomizations(flux, canary))
                  and self.helm_gate.synced(canary, flux))
        base = Observation(
            target_revision=revision,
            bootstrapped=bootstrapped,
            staged_initialization=flux is not None,
            primary_generated=editor.has_primary(canary),
            routing_update=_routing_update(self.ws.root, flux, canary, state, bootstrapped),
            cluster_synced=synced,
            scale_up_replicas=_scale_up_replicas(editor, canary),
        )
        if not synced and state.phase in ACTIVE_PHASES:
            return base
        canary_ready = self._readiness(canary, canary.target.name, "canary")
        primary_ready = self._readiness(canary, canary.primary_name, "primary")
        plan = plan_tick(
            canary, state, revision, bootstrapped, cluster_synced=synced,
            canary_ready=canary_ready.ready, primary_ready=primary_ready.ready,
        )
        checksum = state.last_applied_spec or revision
        hooks = self._call_hooks(canary, state, plan.hooks, checksum)
        if hooks is None:  # a gate is still running: measured when its result is in
            log.debug("%s: waiting on its webhooks", canary.key)
            return replace(base, canary=canary_ready, primary=primary_ready, hooks_waiting=True)
        results = self._metrics(canary, specs) if plan.metrics else ()
        return replace(
            base, canary=canary_ready, primary=primary_ready, metrics=results, hooks=hooks
        )

    def _call_hooks(
        self,
        canary: Canary,
        state: RolloutState,
        kinds: tuple[WebhookType, ...],
        checksum: str,
    ) -> dict[WebhookType, tuple[HookResult, ...]] | None:
        record = self._recorded(canary, state)
        approved = _approved(record)
        if approved is not None and WebhookType.CONFIRM_PROMOTION in kinds:
            kinds = tuple(k for k in kinds if k is not WebhookType.CONFIRM_PROMOTION)
        # every rollback hook is asked: for them a failure means "do not roll back"
        # a result still running is kept for this run at this point of it only
        progress = f"{state.rollout_id}:{state.step}:{state.iterations}:{state.failed_checks}"
        results = self.hooks.results(canary, kinds, state.phase.value, checksum, progress)
        if results is None:
            return None
        if approved is not None:
            results[WebhookType.CONFIRM_PROMOTION] = (approved,)
        if record is not None and record.get("decision") == "reject":  # push mode: roll back
            refusal = HookResult(
                name="gitbot reject", type=WebhookType.ROLLBACK, passed=True, status=200,
                message=f"rejected by {record.get('by', 'someone')}",
            )
            results[WebhookType.ROLLBACK] = (*results.get(WebhookType.ROLLBACK, ()), refusal)
        return results

    def _recorded(self, canary: Canary, state: RolloutState) -> Mapping[str, str] | None:
        """The `gitbot approve` / `gitbot reject` recorded for the current run, if any."""
        record = self.approvals(canary.key)
        if not record or not state.rollout_id or record.get("rollout") != state.rollout_id:
            return None
        return record

    def _metrics(self, canary: Canary, specs: SpecSet) -> tuple[MetricResult, ...]:
        templates: dict[str, MetricTemplate] = {t.key: t for t in specs.templates}
        outcomes = list(self.metrics.query_metrics(canary, templates, self.secrets))
        results = tuple(
            evaluate_metric(canary, metric, outcome.value, outcome.error)
            for metric, outcome in outcomes
        )
        for listener in self.metric_listeners:
            listener(canary, results, sum(1 for _m, outcome in outcomes if outcome.error))
        return results

    def _readiness(self, canary: Canary, deployment: str, kind: str) -> Readiness:
        threshold = (
            canary.analysis.canary_ready_threshold
            if kind == "canary"
            else canary.analysis.primary_ready_threshold
        )
        return self.metrics.deployment_readiness(canary.namespace, deployment, threshold, kind)


def _approved(record: Mapping[str, str] | None) -> HookResult | None:
    """`gitbot approve` for the current run stands in for the confirm-promotion gates."""
    if record is None or record.get("decision", "approve") != "approve":
        return None
    return HookResult(
        name="gitbot approve", type=WebhookType.CONFIRM_PROMOTION, passed=True,
        status=200, message=f"approved by {record.get('by', 'someone')}",
    )


def _routing_update(root: Path, flux: FluxSpecs | None, canary: Canary, state: RolloutState,
                    bootstrapped: bool) -> str:
    """Outside a run or during its analysis, in a Flux repository: the Canary fields the
    generated routing lags (updated at the current weights)."""
    if flux is None or not bootstrapped or state.phase not in IDLE_PHASES | ANALYSIS_PHASES:
        return ""
    try:
        return changed_fields(editor_for(root, flux, canary).update_routing(canary))
    except InvalidInputError as err:  # reported by the edit itself when it is decided
        log.warning("%s: cannot compare the routing objects: %s", canary.key, err)
        return ""



def _scale_up_replicas(editor: ManifestEditor, canary: Canary) -> int:
    """Flagger's ScaleFromZero: the primary's replicas, else the HPA minimum, else 1."""
    primary = editor.get_replicas(canary.namespace, canary.primary_name)
    if primary and primary > 0:
        return primary
    if canary.autoscaler and canary.autoscaler.primary_min_replicas:
        return max(1, canary.autoscaler.primary_min_replicas)
    return 1
