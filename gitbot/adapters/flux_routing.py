"""Canary edits reconcile: gitbot's generated routing objects follow the Canary's service fields.

Flagger reconciles the Services, DestinationRules and VirtualService every tick; through Git,
`update_routing` regenerates gitbot's own objects (in its directory, never the team's) from the
current Canary and merges them in with a minimal diff, keeping the VirtualService's current
weights (the destinations and mirror of each route are left as they are). `changed_fields`
names what would change, for the commit subject `update routing (hosts, retries)`. Called by
`FluxEditor.update_routing` and the observer (on a throwaway editor).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gitbot.adapters import flux_layout as layout
from gitbot.adapters.manifest_merge import Changes, merge_mapping
from gitbot.adapters.manifest_routes import TRAFFIC_KEYS
from gitbot.adapters.manifest_types import FieldChange
from gitbot.adapters.manifests import record
from gitbot.core.spec import Canary

if TYPE_CHECKING:
    from gitbot.adapters.flux_editor import FluxEditor

_FIELD = re.compile(r"^spec\.(?:http\[\d+\]\.|ports\[\d+\]\.)?([A-Za-z]+)")


def update_routing(editor: FluxEditor, canary: Canary) -> list[FieldChange]:
    """Merge the Canary's current Services, DestinationRules and VirtualService fields into
    gitbot's generated objects (weights kept)."""
    ns = canary.namespace
    wanted = editor.routing_objects(canary)
    changes: list[FieldChange] = []
    for obj in wanted:
        entry = editor.index.find(obj["kind"], ns, obj["metadata"]["name"])
        if entry is None or not layout.is_owned(entry.file.rel):
            continue  # the team's own objects are the team's
        found: Changes = []
        if obj["kind"] == "VirtualService":
            _merge_virtual_service(entry.doc.data, obj, found)
        else:
            merge_mapping(entry.doc.data, obj, "", found)
        changes += record(entry, found)
    return changes


def _merge_virtual_service(node: Any, want: dict[str, Any], out: Changes) -> None:
    spec, wanted = node["spec"], want["spec"]
    keep = frozenset({"http"})
    merge_mapping(spec, {k: v for k, v in wanted.items() if k != "http"}, "spec", out,
                  keep=keep)
    routes, desired = spec.get("http") or [], wanted.get("http") or []
    if len(routes) != len(desired):
        return  # another route layout (strategy change): left to the next run's edits
    for index, (route, target) in enumerate(zip(routes, desired, strict=True)):
        kept = frozenset(k for k in route if k in TRAFFIC_KEYS)
        merge_mapping(route, {k: v for k, v in target.items() if k not in TRAFFIC_KEYS},
                      f"spec.http[{index}]", out, keep=kept)


def changed_fields(changes: list[FieldChange]) -> str:
    """`hosts, retries`: the Canary fields behind the changes, sorted, for the subject."""
    names = {m.group(1) if (m := _FIELD.match(c.field)) else c.field or c.kind for c in changes}
    return ", ".join(sorted(names))
