"""PromQL for HelmRelease-deployed canaries: helm-controller's `gotk_resource_info` (pure).

A new module beside `gitbot.core.queries` (same style, its `label_value`); the observer's
applied-revision gate calls `helm_release_query` through the Prometheus adapter and
`helm_release_applied` on each returned series' labels (`gitbot.adapters.helm_gate`).
"""

from __future__ import annotations

from collections.abc import Mapping

from gitbot.core.queries import label_value

#: helm-controller's series: kube-state-metrics custom resource `gotk_resource_info` for
#: HelmReleases (Flux's monitoring example labels: name, exported_namespace, ready, suspended,
#: revision = the applied chart version, chart_name, chart_source_name).
HELM_RELEASE_KIND = "HelmRelease"


def helm_release_query(namespace: str, name: str, matchers: Mapping[str, str] | None = None
                       ) -> str:
    """`gotk_resource_info` of one HelmRelease, narrowed by extra label matchers (cluster=...).

    The applied-revision gate of a HelmRelease-deployed canary waits for the Kustomization that
    applies the release (APPLIED_REVISION_QUERY) and then for this series with `ready="True"`
    (see `helm_release_applied`).
    """
    labels = [f'customresource_kind="{HELM_RELEASE_KIND}"',
              f"exported_namespace={label_value(namespace)}", f"name={label_value(name)}"]
    labels += [f"{key}={label_value(value)}" for key, value in sorted((matchers or {}).items())]
    return "gotk_resource_info{" + ",".join(labels) + "}"


def helm_release_applied(labels: Mapping[str, str]) -> tuple[bool, str]:
    """Whether helm-controller has applied the HelmRelease a series describes, and why not.

    Ready must be "True" and not suspended; when the kube-state-metrics config also exports
    `generation` and `observed_generation` (metadata.generation, status.observedGeneration),
    they must be equal, which closes the window where Ready still describes the last spec.
    """
    name = f"HelmRelease {labels.get('exported_namespace', '?')}/{labels.get('name', '?')}"
    if labels.get("suspended") == "true":
        return False, f"{name} is suspended"
    generation, observed = labels.get("generation"), labels.get("observed_generation")
    if generation is not None and observed is not None and generation != observed:
        return False, f"{name}: helm-controller has not seen generation {generation} yet"
    if labels.get("ready") != "True":
        return False, f"{name} not ready (Ready={labels.get('ready', 'unknown')})"
    return True, ""
