"""The applied-revision gate's HelmRelease step: has helm-controller installed what Flux applied?

Called by `gitbot.observe.Observer` for a canary whose target a HelmRelease renders, once the
Flux Kustomization has applied gitbot's commit: each release of the canary (the team's and
`<release>-primary`) must have its `gotk_resource_info{customresource_kind="HelmRelease"}`
series ready (`gitbot.core.helm_queries`). Without any such series (kube-state-metrics not
configured for HelmReleases) the step is skipped with one warning (`HelmGate`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.core.helm_queries import helm_release_applied, helm_release_query
from gitbot.core.spec import Canary
from gitbot.errors import RetryableError

log = logging.getLogger("gitbot.observe")

QuerySeries = Callable[[str], "list[Any] | str"]


def releases_applied(query_series: QuerySeries, releases: Iterable[tuple[str, str]],
                     matchers: Mapping[str, str] | None = None) -> tuple[bool | None, str]:
    """(True, "") when every release is ready; (False, why) when one is not; (None, why)
    when Prometheus has no series for one of them (not monitored). RetryableError when
    Prometheus cannot be asked."""
    for namespace, name in releases:
        series = query_series(helm_release_query(namespace, name, matchers))
        if isinstance(series, str):
            raise RetryableError(series)
        if not series:
            return None, f"no gotk_resource_info series for HelmRelease {namespace}/{name}"
        for sample in series:
            labels = sample.get("metric", {}) if isinstance(sample, Mapping) else {}
            ok, why = helm_release_applied({str(k): str(v) for k, v in labels.items()})
            if not ok:
                return False, why
    return True, ""


class HelmGate:
    """The observer's HelmRelease step; warns once when the series are not exported."""

    def __init__(self, query_series: QuerySeries) -> None:
        self.query_series = query_series
        self._warned = False

    def synced(self, canary: Canary, flux: FluxSpecs | None) -> bool:
        """True unless a release of this HelmRelease-deployed canary (the team's, and
        `<release>-primary` once declared) is not ready yet, or Prometheus cannot say."""
        helm = flux.helm_target(canary) if flux is not None else None
        if flux is None or helm is None:
            return True
        primary = helm.primary["metadata"]
        keys = [helm.release.key]
        if flux.view.find("HelmRelease", primary["name"], primary["namespace"]):
            keys.append((primary["namespace"], primary["name"]))
        try:
            ok, why = releases_applied(self.query_series, keys)
        except RetryableError as err:
            log.warning("%s: cannot tell whether helm-controller applied the releases (%s); "
                        "holding", canary.key, err)
            return False
        if ok is None and not self._warned:
            log.warning("%s: %s: add the HelmRelease entry of Flux's kube-state-metrics config "
                        "so that gitbot waits for helm-controller", canary.key, why)
            self._warned = True
        elif ok is False:
            log.info("%s: waiting for helm-controller: %s", canary.key, why)
        return ok is not False
