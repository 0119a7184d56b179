"""The `<release>-primary` HelmRelease and the revision of a HelmRelease-deployed target (pure).

Called by the bootstrap path (initialization writes `primary_release(...)` as YAML, see
`gitbot.adapters.helm_edit.primary_yaml`), by the promote path (`promotion(...)` gives the chart
version and values that `gitbot.adapters.helm_edit.promote` copies into the primary) and by the
revision check (`release_revision`: a new revision is a new chart version, new `values` or new
content of a `valuesFrom` ConfigMap/Secret, given as digests by the adapter; secret values never
reach this module). gitbot's own scaling (the replicas values path it sets, its postRenderers
entry) is left out of the revision and never copied into the primary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitbot.core.helm import (
    ValuesPath,
    chart_spec,
    get_path,
    metadata_key,
    release_name,
)
from gitbot.core.spec import JSON

PRIMARY_SUFFIX = "-primary"
#: First line of the patch of gitbot's postRenderers entry (how gitbot finds its own entry).
GITBOT_PATCH_MARKER = "# gitbot.io/canary-replicas: managed by gitbot, do not edit"
#: First line of the patch of gitbot's apex Service entry (`gitbot.core.helm_apex`).
APEX_PATCH_MARKER = "# gitbot.io/apex-selector: managed by gitbot, do not edit"


def plain(value: Any) -> Any:
    """Deep copy of mappings/sequences as plain dicts/lists (frozen or ruamel input)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _spec(release: Mapping[str, JSON]) -> Mapping[str, JSON]:
    spec = release.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def entry_patches(entry: JSON) -> list[Mapping[str, JSON]]:
    """The kustomize patch items of a postRenderers entry ([] for other entries)."""
    kustomize = entry.get("kustomize") if isinstance(entry, Mapping) else None
    patches = kustomize.get("patches") if isinstance(kustomize, Mapping) else None
    return [p for p in patches if isinstance(p, Mapping)] if isinstance(
        patches, list | tuple) else []


def _marked(entry: JSON, *markers: str) -> bool:
    return any(str(p.get("patch", "")).lstrip().startswith(markers)
               for p in entry_patches(entry))


def is_gitbot_entry(entry: JSON) -> bool:
    """True for gitbot's own postRenderers entries (canary scaling, apex Service selector)."""
    return _marked(entry, GITBOT_PATCH_MARKER, APEX_PATCH_MARKER)


def is_replicas_entry(entry: JSON) -> bool:
    """True for gitbot's canary scaling entry (its patch starts with GITBOT_PATCH_MARKER)."""
    return _marked(entry, GITBOT_PATCH_MARKER)


def set_path(values: dict[str, Any], path: ValuesPath, value: Any) -> None:
    """Set `value` at `path` in plain values, creating mappings; None removes the key."""
    node = values
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            if value is None:
                return
            child = node[key] = {}
        node = child
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def merge_values(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's values merge (MergeMaps): mappings merged key by key, anything else replaced."""
    out: dict[str, Any] = plain(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = plain(value)
    return out


@dataclass(frozen=True)
class ValuesFromPlan:
    """How the primary gets the release's `valuesFrom`.

    `merged` holds `spec.values` over the ConfigMaps' values when every reference is a
    ConfigMap entry without `targetPath` (the primary then carries them inline, so a ConfigMap
    change waits for promotion); otherwise None and `note` says why the references are copied
    (a change of their content then reaches the primary at once).
    """

    merged: dict[str, Any] | None
    note: str = ""


def values_from_label(ref: Mapping[str, JSON]) -> str:
    """`Kind/name:key` of one `valuesFrom` reference (key defaults to values.yaml)."""
    return f"{ref.get('kind')}/{ref.get('name')}:{ref.get('valuesKey') or 'values.yaml'}"


def plan_values_from(release: Mapping[str, JSON],
                     contents: Mapping[str, JSON]) -> ValuesFromPlan:
    """Inline the `valuesFrom` ConfigMaps (`contents`: label -> parsed values) when possible."""
    refs = [r for r in _spec(release).get("valuesFrom") or () if isinstance(r, Mapping)]
    merged: dict[str, Any] = {}
    for ref in refs:
        label = values_from_label(ref)
        if ref.get("kind") != "ConfigMap" or ref.get("targetPath"):
            why = "a Secret" if ref.get("kind") == "Secret" else "a targetPath reference"
            return ValuesFromPlan(None, f"valuesFrom {label} is {why}: the primary shares it, "
                                        "so a change of its content reaches the primary at once")
        content = contents.get(label)
        if not isinstance(content, Mapping):
            if ref.get("optional") and label not in contents:
                continue
            return ValuesFromPlan(None, f"valuesFrom {label}: no such ConfigMap entry with "
                                        "YAML values in the repository")
        merged = merge_values(merged, content)
    return ValuesFromPlan(merge_values(merged, _spec(release).get("values") or {}))


@dataclass(frozen=True)
class Promotion:
    """What promotion copies into `<release>-primary`: chart version and values."""

    version: str | None  # spec.chart.spec.version; None when the release does not pin one
    values: dict[str, Any]


def promotion(release: Mapping[str, JSON], target: str, name_path: ValuesPath,
              replicas_path: ValuesPath | None = None, replicas: JSON = None,
              inline: ValuesFromPlan | None = None) -> Promotion:
    """The primary's chart version and values for the team's release (as rendered).

    The name path is set to `<target>-primary`; with a replicas path, its value is `replicas`
    (the team's own value recorded before gitbot scaled the canary; None removes the key).
    With an `inline` plan whose ConfigMaps were merged, those merged values are the base.
    """
    values = (inline.merged if inline is not None and inline.merged is not None
              else plain(_spec(release).get("values") or {}))
    set_path(values, name_path, target + PRIMARY_SUFFIX)
    if replicas_path is not None:
        set_path(values, replicas_path, replicas)
    version = chart_spec(release).get("version")
    return Promotion(str(version) if version is not None else None, values)


def _remediation(spec: Mapping[str, JSON], key: str) -> dict[str, Any] | None:
    section = spec.get(key)
    if isinstance(section, Mapping) and "remediation" in section:
        return {"remediation": plain(section["remediation"])}
    return None


def primary_release(release: Mapping[str, JSON], target: str, name_path: ValuesPath,
                    replicas_path: ValuesPath | None = None, replicas: JSON = None,
                    inline: ValuesFromPlan | None = None) -> dict[str, Any]:
    """The `<release>-primary` HelmRelease for the team's (rendered) release, as plain data.

    Same chart (with its `sourceRef`), chart version, interval, target/storage namespace,
    `valuesFrom` (inlined when `inline.merged`) and team postRenderers (gitbot's own entries
    left out), the values of `promotion`,
    release name `<release>-primary`, `install.remediation`/`upgrade.remediation` copied.
    """
    spec = _spec(release)
    namespace, name = metadata_key(release)
    chosen = promotion(release, target, name_path, replicas_path, replicas, inline)
    out_spec: dict[str, Any] = {"releaseName": release_name(release) + PRIMARY_SUFFIX}
    for key in ("targetNamespace", "storageNamespace"):
        if spec.get(key):
            out_spec[key] = spec[key]
    if "chartRef" in spec:
        out_spec["chartRef"] = plain(spec["chartRef"])
    else:
        chart = plain(chart_spec(release))
        if chosen.version is not None:
            chart["version"] = chosen.version
        out_spec["chart"] = {"spec": chart}
    out_spec["interval"] = spec.get("interval")
    for key in ("install", "upgrade"):
        section = _remediation(spec, key)
        if section is not None:
            out_spec[key] = section
    out_spec["values"] = chosen.values
    if spec.get("valuesFrom") and (inline is None or inline.merged is None):
        out_spec["valuesFrom"] = plain(spec["valuesFrom"])
    renderers = [plain(e) for e in spec.get("postRenderers") or () if not is_gitbot_entry(e)]
    if renderers:
        out_spec["postRenderers"] = renderers
    return {
        "apiVersion": release.get("apiVersion"),
        "kind": "HelmRelease",
        "metadata": {"name": name + PRIMARY_SUFFIX, "namespace": namespace},
        "spec": out_spec,
    }


def release_revision(release: Mapping[str, JSON], values_from: Mapping[str, str],
                     replicas_path: ValuesPath | None = None) -> str:
    """A short digest of what makes a new revision: chart version, values, valuesFrom content.

    `values_from` maps each `valuesFrom` reference (`Kind/name[:key]`) to a digest of its
    content (the adapter hashes ConfigMaps and Secrets; values never come here). The values at
    gitbot's replicas path are ignored, so scaling the canary is not a revision.
    """
    values = plain(_spec(release).get("values") or {})
    if replicas_path is not None:
        for depth in range(len(replicas_path), 0, -1):  # the key, then emptied parents
            parent = get_path(values, replicas_path[:depth - 1])
            if depth < len(replicas_path) and (
                    not isinstance(parent, dict) or parent.get(replicas_path[depth - 1]) != {}):
                break
            set_path(values, replicas_path[:depth], None)
    chart = chart_spec(release)
    chart_ref = _spec(release).get("chartRef")
    payload = {
        "chart": [chart.get("chart"), chart.get("version")] if chart else plain(chart_ref),
        "values": values,
        "valuesFrom": sorted(values_from.items()),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
