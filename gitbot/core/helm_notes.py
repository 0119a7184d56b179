"""What `gitbot validate` warns about a HelmRelease canary target (pure; not errors).

Called by `gitbot.adapters.helm_canary.helm_target` for its `HelmTarget.notes`, which
`validate` prints under the release it resolved:

- a chart `version` that is not one exact version (omitted, `*`, `>=1.0.0`, `6.x`, `~6.1`): a
  newer chart published to the HelmRepository upgrades the team release and `<release>-primary`
  at once, with no commit, so no analysis (fluxcd/flux2-kustomize-helm-example uses
  `>=1.0.0`);
- values that enable the chart's own Ingress or Gateway API HTTPRoute (`ingress.enabled`,
  `httpRoute.enabled`, as podinfo's chart and `helm create` name them): traffic from outside
  the mesh reaches the team Service, which gitbot points at the primary's pods (gitbot's apex
  entry), so the canary analysis never sees it, and the primary release renders a second one
  with the same hosts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gitbot.core.helm import chart_spec, get_path, metadata_key
from gitbot.core.spec import JSON

_EXACT = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_VERSIONED_SOURCES = ("", "HelmRepository")  # GitRepository/Bucket charts ignore `version`
_ENTRY_POINTS = (("ingress", "enabled"), ("httpRoute", "enabled"))


def release_notes(release: Mapping[str, JSON]) -> tuple[str, ...]:
    """The warnings for the team release `release` (rendered as Flux applies it)."""
    name = metadata_key(release)[1]
    return (*_version_note(release, name), *_entry_notes(release, name))


def _version_note(release: Mapping[str, JSON], name: str) -> list[str]:
    spec = chart_spec(release)
    source = spec.get("sourceRef")
    kind = str(source.get("kind") or "") if isinstance(source, Mapping) else ""
    if not spec or kind not in _VERSIONED_SOURCES:
        return []
    version = str(spec.get("version") or "").strip()
    if _EXACT.match(version):
        return []
    shown = f"chart version {version!r} is a range" if version else "no chart version (latest)"
    return [f"{shown}: a newer chart in the HelmRepository upgrades {name} and {name}-primary "
            "together, with no commit and no analysis; pin one version in "
            "spec.chart.spec.version (a chart upgrade is then a release gitbot analyses)"]


def _entry_notes(release: Mapping[str, JSON], name: str) -> list[str]:
    spec = release.get("spec")
    values = spec.get("values") if isinstance(spec, Mapping) else None
    found = [".".join(path) for path in _ENTRY_POINTS if get_path(values, path) is True]
    if not found:
        return []
    return [f"values {', '.join(found)}: the chart's own entry sends traffic from outside the "
            f"mesh to the Service of release {name}, which gitbot points at the pods of "
            f"{name}-primary, so Istio never splits it and the analysis never sees it, and "
            f"{name}-primary renders a copy with the same hosts; send that traffic through the "
            "Canary's Istio gateway (service.gateways, hosts) (README, Helm, Traffic)"]
