"""Edit a team object where the change takes effect for one Flux Kustomization only.

Called by `gitbot.adapters.flux_editor` for the target's replicas and the apex Service's
selector. When the object's source file lies under the Flux Kustomization's `path` and no other
rendered Kustomization uses it, the source file is edited in place (minimal diff). Otherwise the
file is a base shared by several environments (or clusters), and the value is set by a
JSON-patch entry in that Flux Kustomization's `spec.patches` (its file is in the cluster
directory), recognised on later edits by its target and `path`. A Kustomization of another
cluster reading an ExternalArtifact (its path relative to the artifact) counts as building
every directory whose name ends with its path (conservative: a patch rather than an edit).
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.manifest_index import Entry, ManifestIndex
from gitbot.adapters.manifest_merge import Changes, merge_mapping, plain
from gitbot.adapters.manifest_types import FieldChange
from gitbot.adapters.manifests import record
from gitbot.adapters.render import FluxKustomization, RenderedObject, discovery
from gitbot.adapters.render.artifacts import ARTIFACT_KIND
from gitbot.adapters.render.sourceignore import SourceIgnore
from gitbot.errors import InvalidInputError


def set_effective(index: ManifestIndex, flux: FluxSpecs, obj: RenderedObject,
                  path: tuple[str, ...], value: Any) -> list[FieldChange]:
    """Make the rendered `obj` carry `value` at `path` (see the module docstring); `None`
    removes the field (in place) or gitbot's patch entry for it."""
    kustomization = flux.owner(obj).kustomization
    shared = is_shared(flux, obj) or built_elsewhere(index.root, flux, obj)
    entry = None if shared else source_entry(index, obj)
    if entry is None:
        return set_by_patch(index, kustomization, obj, path, value)
    parent: Any = entry.doc.data
    for key in path[:-1]:
        parent = parent.setdefault(key, CommentedMap())
    changes: Changes = []
    if value is None:
        if path[-1] in parent:
            changes.append((".".join(path), plain(parent[path[-1]]), None))
            del parent[path[-1]]
        return record(entry, changes)
    keep = frozenset(k for k in parent if k != path[-1])
    merge_mapping(parent, {path[-1]: value}, ".".join(path[:-1]), changes, keep=keep)
    return record(entry, changes)


def is_shared(flux: FluxSpecs, obj: RenderedObject) -> bool:
    """True when the source file may reach other environments: outside the Kustomization's
    path (a base), or rendered by another Flux Kustomization of this cluster too."""
    file, owner = obj.origin.file, flux.owner(obj).kustomization
    if not file or not (owner.path == "." or file.startswith(owner.path.rstrip("/") + "/")):
        return True
    return any(o.origin.file == file for k in flux.view.kustomizations
               if k.kustomization.key != owner.key for o in k.objects)


def _under(file: str, directory: str) -> bool:
    return directory == "." or file.startswith(directory.rstrip("/") + "/")


def built_elsewhere(root: Path, flux: FluxSpecs, obj: RenderedObject) -> bool:
    """True when a Flux Kustomization of any cluster in the repository, other than the
    object's own, builds a directory holding its source file (two clusters, one app path)."""
    owner = flux.owner(obj).kustomization
    found = discovery.scan(root, SourceIgnore.load(root))
    return any(_may_build(str(obj.origin.file), k) for k in found.kustomizations
               if (k.file, k.key) != (owner.file, owner.key))


def _may_build(file: str, kustomization: FluxKustomization) -> bool:
    """`_under` its path; for an ExternalArtifact one (path relative to the artifact, which
    holds some repository directory), under any directory ending with that path."""
    if kustomization.source.kind != ARTIFACT_KIND:
        return kustomization.path != "." and _under(file, kustomization.path)
    inner = kustomization.path.strip("/")
    return inner == "." or f"/{inner}/" in f"/{file}"


def source_entry(index: ManifestIndex, obj: RenderedObject) -> Entry | None:
    """The indexed document `obj` was rendered from (by name, else by line, else the only one)."""
    index.scan()
    found = [e for e in index.entries if e.file.rel == obj.origin.file and e.kind == obj.kind]
    for candidates in ([e for e in found if e.name == obj.name],
                       [e for e in found if e.doc.line == obj.origin.line],
                       found if len(found) == 1 else []):
        if candidates:
            return candidates[0]
    return None


def patch_text(path: tuple[str, ...], value: Any) -> str:
    return f"- op: add\n  path: /{'/'.join(path)}\n  value: {json.dumps(value)}\n"


def set_by_patch(index: ManifestIndex, kustomization: FluxKustomization, obj: RenderedObject,
                 path: tuple[str, ...], value: Any) -> list[FieldChange]:
    """Set the value through an entry of the Flux Kustomization's `spec.patches`."""
    entry = _flux_entry(index, kustomization)
    spec = entry.doc.data.setdefault("spec", CommentedMap())
    patches = spec.setdefault("patches", CommentedSeq())
    target = {"kind": obj.kind, "name": obj.name}
    text, marker = patch_text(path, value), f"- op: add\n  path: /{'/'.join(path)}\n"
    changes: Changes = []
    for i, item in enumerate(patches):
        if (isinstance(item, dict) and plain(item.get("target")) == target
                and str(item.get("patch", "")).startswith(marker)):
            if value is None:
                changes.append((f"spec.patches[{i}]", plain(item), None))
                del patches[i]
                return record(entry, changes)
            if str(item["patch"]) == text:
                return []
            changes.append((f"spec.patches[{i}].patch", str(item["patch"]), text))
            item["patch"] = LiteralScalarString(text)
            return record(entry, changes)
    if value is None:
        return []
    node = CommentedMap()
    node["patch"] = LiteralScalarString(text)
    node["target"] = CommentedMap(target)
    patches.append(node)
    changes.append((f"spec.patches[{len(patches) - 1}]", None, {"patch": text, "target": target}))
    return record(entry, changes)


def _flux_entry(index: ManifestIndex, kustomization: FluxKustomization) -> Entry:
    index.scan()
    for entry in index.entries:
        if (entry.kind == "Kustomization" and entry.file.rel == kustomization.file
                and entry.name == kustomization.name):
            return entry
    raise InvalidInputError(
        f"{kustomization.where()}: a base shared by several environments needs a spec.patches "
        f"entry here, but the Kustomization is not declared in the repository "
        f"({posixpath.basename(kustomization.path)!r})")
