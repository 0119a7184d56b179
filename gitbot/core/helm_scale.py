"""Scaling a HelmRelease-deployed canary without chart knowledge (pure).

gitbot's own `postRenderers` entry on the team's release: a kustomize JSON6902 patch setting
`spec.replicas` of the target Deployment, its patch text starting with GITBOT_PATCH_MARKER so
gitbot finds it again (`gitbot.core.helm_primary.is_replicas_entry`). Called by
`gitbot.adapters.helm_edit`: `replicas_entry_data` for an edit of the file declaring the
release, `overlay_patch_ops` when the release is declared in a base shared by several Flux
Kustomizations and the entry must be added by the overlay's kustomization instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gitbot.core.helm_primary import GITBOT_PATCH_MARKER, is_gitbot_entry, is_replicas_entry
from gitbot.core.spec import JSON

#: First line of gitbot's patch item in an overlay kustomization.yaml (JSON6902 on the release).
OVERLAY_MARKER = "# gitbot.io/canary-replicas-overlay: managed by gitbot, do not edit"


def replicas_patch_text(replicas: int) -> str:
    """The JSON6902 patch (YAML text) the post-renderer applies to the target Deployment."""
    return (f"{GITBOT_PATCH_MARKER}\n- op: add\n  path: /spec/replicas\n"
            f"  value: {int(replicas)}")


def replicas_entry_data(target: str, replicas: int) -> dict[str, Any]:
    """gitbot's postRenderers entry as plain data."""
    return {"kustomize": {"patches": [{
        "target": {"kind": "Deployment", "name": target},
        "patch": replicas_patch_text(replicas),
    }]}}


def overlay_patch_ops(rendered_release: Mapping[str, JSON], target: str,
                      replicas: int, after_apex: bool = False) -> list[dict[str, Any]]:
    """JSON6902 operations adding gitbot's entry to the release from an overlay.

    Appends to the team's `postRenderers` when the rendered release (without gitbot's entries)
    has any, or when gitbot's apex item comes first in the overlay (`after_apex`), else adds
    the list.
    """
    spec = rendered_release.get("spec")
    team = [e for e in (spec.get("postRenderers") if isinstance(spec, Mapping) else None) or ()
            if not is_gitbot_entry(e)]
    entry = replicas_entry_data(target, replicas)
    if team or after_apex:
        return [{"op": "add", "path": "/spec/postRenderers/-", "value": entry}]
    return [{"op": "add", "path": "/spec/postRenderers", "value": [entry]}]


def _pointer(keys: tuple[str, ...]) -> str:
    return "/".join(k.replace("~", "~0").replace("/", "~1") for k in keys)


def values_patch_ops(rendered_release: Mapping[str, JSON], path: tuple[str, ...],
                     value: int) -> list[dict[str, Any]]:
    """JSON6902 operations setting `spec.values.<path>` from an overlay (missing parents made)."""
    node: JSON = rendered_release.get("spec")
    keys: tuple[str, ...] = ("spec", "values")
    node = node.get("values") if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return [{"op": "add", "path": "/spec/values", "value": _nested(path, value)}]
    for index, key in enumerate(path[:-1]):
        child = node.get(key)
        if not isinstance(child, Mapping):
            return [{"op": "add", "path": "/" + _pointer(keys + path[:index + 1]),
                     "value": _nested(path[index + 1:], value)}]
        node = child
    return [{"op": "add", "path": "/" + _pointer(keys + path), "value": value}]


def _nested(path: tuple[str, ...], value: int) -> dict[str, Any]:
    out: Any = value
    for key in reversed(path):
        out = {key: out}
    result: dict[str, Any] = out
    return result


_VALUE = re.compile(r"^\s*value:\s*(\d+)\s*$", re.MULTILINE)


def scaled_replicas(release: Mapping[str, JSON], replicas_path: tuple[str, ...] | None = None
                    ) -> int | None:
    """The replicas gitbot's scaling gives the canary in a (rendered) release: its postRenderers
    entry's value, or the value at the Canary's replicas path; None when gitbot sets none."""
    spec = release.get("spec")
    if not isinstance(spec, Mapping):
        return None
    if replicas_path is not None:
        node: JSON = spec.get("values")
        for key in replicas_path:
            node = node.get(key) if isinstance(node, Mapping) else None
        return node if isinstance(node, int) and not isinstance(node, bool) else None
    for entry in spec.get("postRenderers") or ():
        if is_replicas_entry(entry):
            patches = entry["kustomize"]["patches"]
            for patch in patches if isinstance(patches, list | tuple) else ():
                found = _VALUE.search(str(patch.get("patch", "")) if isinstance(
                    patch, Mapping) else "")
                if found:
                    return int(found.group(1))
    return None
