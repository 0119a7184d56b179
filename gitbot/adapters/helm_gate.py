"""The applied-revision gate's HelmRelease step: has helm-controller installed what Flux applied?

Called by `gitbot.observe.Observer` for a canary whose target a HelmRelease renders, once the
Flux Kustomization has applied gitbot's commit: each release of the canary (the team's and
`<release>-primary`) must have its `gotk_resource_info{customresource_kind="HelmRelease"}`
series ready (`gitbot.core.helm_queries`). Without any such series (kube-state-metrics not
configured for HelmReleases) the step is skipped and the caller warns once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitbot.core.helm_queries import helm_release_applied, helm_release_query
from gitbot.errors import RetryableError

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
