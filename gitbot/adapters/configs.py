"""`-primary` copies of the ConfigMaps and Secrets the canary target uses (config tracking).

Called by `ManifestEditor.bootstrap` (create the missing copies) and `ManifestEditor.promote`
(refresh every copy's data from its original, create the missing ones). As in Flagger, the
primary Deployment references `<name>-primary` copies, so a config change reaches the primary
only through a promotion. New copies go into one generated file `<target>-primary-configs.yaml`
next to the target, registered in the folder's `kustomization.yaml` when there is one.

Which configs are tracked: those the target's pod template references that are found in the
repository and pass `gitbot.core.configrefs.tracking_exclusion`. SOPS-encrypted configs stay
shared with the primary: copying the document would break the SOPS MAC. The `FieldChange`
records of Secrets carry their keys but not their values.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from gitbot.adapters.bootstrap import register_resource, without_flux
from gitbot.adapters.manifest_index import Entry, ManifestIndex
from gitbot.adapters.manifest_merge import Changes, merge_mapping, plain, to_node
from gitbot.adapters.manifest_types import GENERATED_MARK, FieldChange, ManifestShapeError
from gitbot.adapters.safefs import new_file
from gitbot.adapters.yamlio import YamlDocument, YamlFile, dump_text
from gitbot.core.configrefs import config_payload, primary_name, tracking_exclusion
from gitbot.core.revision import ConfigKey, referenced_configs
from gitbot.core.routes import object_metadata
from gitbot.core.spec import Canary

log = logging.getLogger("gitbot.configs")

COPIED_KEYS = frozenset({"type", "data", "stringData", "binaryData"})
PAYLOAD_FIELDS = ("data", "stringData", "binaryData")
REDACTED = "<redacted>"
Obj = dict[str, Any]


def configs_file_name(canary: Canary) -> str:
    return f"{canary.target.name}-primary-configs.yaml"


def tracked_configs(index: ManifestIndex, namespace: str, target: Entry) -> list[Entry]:
    """The tracked configs of the target, sorted by (kind, name)."""
    template = ((plain(target.doc.data).get("spec") or {}).get("template")) or {}
    found: list[Entry] = []
    for kind, name in sorted(referenced_configs(template)):
        entry = index.find(kind, namespace, name)
        if entry is None:
            log.debug("%s %s/%s is not in the repository: the primary uses it as it is",
                      kind, namespace, name)
            continue
        reason = tracking_exclusion(kind, plain(entry.doc.data))
        if reason is not None:
            log.info("%s %s/%s is not copied for the primary: %s", kind, namespace, name, reason)
            continue
        found.append(entry)
    return found


def payloads(tracked: list[Entry]) -> dict[ConfigKey, dict[str, Any]]:
    """(kind, name) -> the config's data, for renaming and the checksum annotation."""
    return {(e.kind, e.name): plain(config_payload(e.doc.data)) for e in tracked}


def copy_object(entry: Entry) -> Obj:
    """The `<name>-primary` copy of a config (data nodes kept as they are, for their style)."""
    data = entry.doc.data
    meta = data.get("metadata") or {}
    namespace = meta.get("namespace")
    obj: Obj = {
        "apiVersion": data.get("apiVersion", "v1"),
        "kind": entry.kind,
        "metadata": object_metadata(primary_name(entry.name),
                                    namespace if isinstance(namespace, str) else "",
                                    without_flux(meta.get("labels")),
                                    without_flux(meta.get("annotations"))),
    }
    obj.update((k, v) for k, v in data.items() if k in COPIED_KEYS)
    return obj


def redact(value: Any) -> Any:
    """A Secret value as it may appear in a FieldChange: keys kept, values masked."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    return None if value is None else REDACTED


def _record(entry: Entry, changes: Changes) -> list[FieldChange]:
    if changes:
        entry.doc.touch()
    secret = entry.kind == "Secret"
    return [FieldChange(entry.file.rel, entry.kind, entry.namespace, entry.name, f,
                        redact(old) if secret and f.startswith(PAYLOAD_FIELDS) else old,
                        redact(new) if secret and f.startswith(PAYLOAD_FIELDS) else new)
            for f, old, new in changes]


def _created(rel: str, namespace: str, obj: Obj) -> FieldChange:
    data = plain(obj)
    if obj["kind"] == "Secret":
        data.update((k, redact(data[k])) for k in PAYLOAD_FIELDS if k in data)
    return FieldChange(rel, obj["kind"], namespace, obj["metadata"]["name"], "", None, data)


def refresh_copy(copy: Entry, source: Entry) -> list[FieldChange]:
    """Set the copy's type and data to the source's, writing only the values that differ."""
    node, src = copy.doc.data, source.doc.data
    want = {k: v for k, v in src.items() if k in COPIED_KEYS}
    keep = frozenset(str(k) for k in node if k not in COPIED_KEYS)
    changes: Changes = []
    merge_mapping(node, want, "", changes, keep=keep)
    return _record(copy, changes)


def _missing(index: ManifestIndex, namespace: str, tracked: list[Entry]) -> list[Entry]:
    return [e for e in tracked if index.find(e.kind, namespace, primary_name(e.name)) is None]


def create_copies(index: ManifestIndex, canary: Canary, target: Entry,
                  tracked: list[Entry]) -> list[FieldChange]:
    """Create the copies not in the repository yet (existing ones are left as they are)."""
    objs = [copy_object(e) for e in _missing(index, canary.namespace, tracked)]
    if not objs:
        return []
    rel_folder = target.file.rel.rpartition("/")[0]
    name = configs_file_name(canary)
    rel = new_file(index.root, rel_folder, name, f"Canary {canary.key}")
    changes = [_created(rel, canary.namespace, o) for o in objs]
    existing = index.files.get(rel)
    if existing is not None:
        _append(index, existing, objs)
        return changes
    if os.path.lexists(index.root / rel):
        reason = index.skipped.get(rel, f"{rel}: exists but cannot be read as YAML")
        raise ManifestShapeError(f"{reason}; cannot add the primary copies of the configs "
                                 f"of {canary.key}")
    index.add_file(YamlFile.create(index.root, rel, render_configs(canary, objs)))
    return changes + register_resource(index, rel_folder, name)


def refresh_copies(index: ManifestIndex, canary: Canary, target: Entry,
                   tracked: list[Entry]) -> list[FieldChange]:
    """Bring every copy's data up to date with its original; create the missing copies."""
    changes: list[FieldChange] = []
    for source in tracked:
        copy = index.find(source.kind, canary.namespace, primary_name(source.name))
        if copy is not None:
            changes += refresh_copy(copy, source)
    return changes + create_copies(index, canary, target, tracked)


def render_configs(canary: Canary, objs: list[Obj]) -> str:
    """The text of the generated configs file: a header comment, then the copies."""
    header = (f"{GENERATED_MARK} from Canary {canary.key}.\n"
              "# Copies of the configs the primary uses; gitbot refreshes them on promotion.\n")
    return header + "---\n" + "---\n".join(dump_text(to_node(o)) for o in objs)


def _append(index: ManifestIndex, yfile: YamlFile, objs: list[Obj]) -> None:
    """Append documents to a file already in the index, and index their objects."""
    text = yfile.render()
    if text and not text.endswith("\n"):
        yfile.parts.append("\n")
        text += "\n"
    line = text.count("\n") + 2
    count = sum(1 for d in yfile.documents if d.index >= 0)
    yfile.rewritten = True
    for obj in objs:
        yfile.parts.append("---\n")
        body = dump_text(to_node(obj))
        doc = YamlDocument(yfile, body, line)
        doc.index, count = count, count + 1
        yfile.parts.append(doc)
        namespace = obj["metadata"].get("namespace") or index.kustomize_namespace(
            yfile.path.parent)
        index.entries.append(Entry(obj["kind"], namespace, obj["metadata"]["name"], yfile, doc))
        line += body.count("\n") + 1
