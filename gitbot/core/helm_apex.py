"""The team chart's Service `<svc>` pointed at the primary release's pods (pure).

Between runs gitbot scales the team release's Deployment to 0, so the chart's own Service
`<svc>` would have no endpoints for clients outside the mesh. gitbot's second, permanent
`postRenderers` entry on the team's release (its patch text starts with APEX_PATCH_MARKER)
rewrites that Service's `spec.selector` to the primary release's pod labels, as Flagger does
for the apex Service of plain Deployments. Called by `gitbot.adapters.helm_edit` (the entry in
the release's file, or the overlay's JSON6902 operations) and `gitbot.adapters.helm_editor`
(which selector, verified on the rendered release).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gitbot.core.helm import release_name, selector_labels
from gitbot.core.helm_primary import (
    APEX_PATCH_MARKER,
    PRIMARY_SUFFIX,
    entry_patches,
    is_gitbot_entry,
)
from gitbot.core.spec import JSON

__all__ = [
    "APEX_OVERLAY_MARKER",
    "APEX_PATCH_MARKER",
    "apex_entry_data",
    "apex_overlay_ops",
    "apex_selector",
    "is_apex_entry",
    "primary_selector",
]

#: First line of gitbot's patch item adding that entry from an overlay kustomization.yaml.
APEX_OVERLAY_MARKER = "# gitbot.io/apex-selector-overlay: managed by gitbot, do not edit"


def primary_selector(release: Mapping[str, JSON], primary: Mapping[str, JSON], target: str,
                     chosen: tuple[tuple[str, str], ...] = ()) -> dict[str, str] | None:
    """The primary release's pod labels: the chart convention with the primary's release name,
    or the `gitbot.io/helm-selector` labels with the team release name (or the target's name)
    replaced by the primary's. None when no chosen label names the release or target."""
    if not chosen:
        return selector_labels(primary)
    names = {release_name(release): release_name(primary), target: target + PRIMARY_SUFFIX}
    mapped = {key: names.get(value, value) for key, value in chosen}
    return mapped if mapped != dict(chosen) else None


def apex_patch_text(selector: Mapping[str, str]) -> str:
    """The JSON6902 patch (YAML text) the post-renderer applies to the Service `<svc>`."""
    labels = "".join(f"\n    {key}: {json.dumps(value)}" for key, value in selector.items())
    return f"{APEX_PATCH_MARKER}\n- op: add\n  path: /spec/selector\n  value:{labels}"


def apex_entry_data(service: str, selector: Mapping[str, str]) -> dict[str, Any]:
    """gitbot's apex postRenderers entry as plain data."""
    return {"kustomize": {"patches": [{
        "target": {"kind": "Service", "name": service},
        "patch": apex_patch_text(selector),
    }]}}


def is_apex_entry(entry: JSON) -> bool:
    """True for gitbot's apex Service entry."""
    return any(str(p.get("patch", "")).lstrip().startswith(APEX_PATCH_MARKER)
               for p in entry_patches(entry))


def apex_overlay_ops(rendered_release: Mapping[str, JSON], service: str,
                     selector: Mapping[str, str]) -> list[dict[str, Any]]:
    """JSON6902 operations adding the apex entry from an overlay: appended to the team's
    `postRenderers` when the release has any, else the list is added (gitbot's scaling item
    comes after this one and appends)."""
    spec = rendered_release.get("spec")
    team = [e for e in (spec.get("postRenderers") if isinstance(spec, Mapping) else None) or ()
            if not is_gitbot_entry(e)]
    entry = apex_entry_data(service, selector)
    if team:
        return [{"op": "add", "path": "/spec/postRenderers/-", "value": entry}]
    return [{"op": "add", "path": "/spec/postRenderers", "value": [entry]}]


def apex_selector(release: Mapping[str, JSON]) -> tuple[str, dict[str, str]] | None:
    """(Service, selector) gitbot's apex entry sets in a (rendered) release; None without."""
    spec = release.get("spec")
    for entry in (spec.get("postRenderers") if isinstance(spec, Mapping) else None) or ():
        for patch in entry_patches(entry):
            text = str(patch.get("patch", ""))
            if not text.lstrip().startswith(APEX_PATCH_MARKER):
                continue
            target = patch.get("target")
            name = target.get("name") if isinstance(target, Mapping) else None
            return str(name), _labels(text.splitlines()[4:])
    return None


def _labels(lines: list[str]) -> dict[str, str]:
    """The `key: "value"` lines gitbot wrote ({} when edited beyond reading)."""
    found: dict[str, str] = {}
    for key, _, value in (line.strip().partition(": ") for line in lines):
        try:
            found[key] = str(json.loads(value))
        except ValueError:
            return {}
    return found
