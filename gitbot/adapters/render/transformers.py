"""Which `images:` / `patches` entries select a rendered object, with file and line.

kustomize's transformations annotation lists every transformer of a kustomization file that
ran over an object, changed or not. `selecting_entries` narrows that to the entries whose
selector matches the object (an `images` name matching one of its images, a patch target or
inline patch naming its kind and name), including those of the Flux Kustomization itself, so
a render-edit-render check can say "overridden by images[0] at apps/kustomization.yaml:7".
Called by the reconciler's verify step (integration pending).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import re2
from ruamel.yaml.error import YAMLError

from gitbot.adapters.render.model import RenderedKustomization, RenderedObject
from gitbot.adapters.render.yamldocs import item_line
from gitbot.adapters.safefs import FileRefusedError, read_text
from gitbot.adapters.yamlbudget import rt_yaml

PATCH_FIELDS = ("patches", "patchesJson6902", "patchesStrategicMerge")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is an answer (no match), not stderr noise


@dataclass(frozen=True)
class SelectingEntry:
    """One transformer entry that applies to an object: `images[0]`, `patches[1]`, …"""

    field: str  # e.g. "images[0]"
    file: str
    line: int | None

    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.field}"


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    colon, slash = name.rfind(":"), name.rfind("/")
    return name[:colon] if colon > slash else name


def _images(value: Any) -> set[str]:
    """Every container image name (without tag or digest) anywhere in an object."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("containers", "initContainers") and isinstance(item, list):
                found |= {_image_name(str(c.get("image", ""))) for c in item
                          if isinstance(c, Mapping)}
            else:
                found |= _images(item)
    elif isinstance(value, list):
        for item in value:
            found |= _images(item)
    return found


def _matches(pattern: object, value: str) -> bool:
    """kustomize's selector match: the pattern anchored (`^(?:p)$`), in RE2 syntax and time
    (Go's regexp): linear, where Python's backtracking `re` takes forever on `(a|aa)*b`."""
    if pattern in (None, ""):
        return True
    compiled = _selector(str(pattern))
    return compiled.fullmatch(value) is not None if compiled is not None else \
        str(pattern) == value


@lru_cache(maxsize=1024)
def _selector(pattern: str) -> Any:
    """The compiled RE2 pattern; None when RE2 refuses it (kustomize then fails the build)."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        return None


def _selects(entry: Any, obj: RenderedObject, root: Path, directory: str) -> bool:
    target = entry.get("target") if isinstance(entry, Mapping) else None
    if isinstance(target, Mapping):
        group, _, version = obj.api_version.rpartition("/")
        return all((_matches(target.get("kind"), obj.kind), _matches(target.get("name"), obj.name),
                    _matches(target.get("namespace"), obj.namespace or ""),
                    _matches(target.get("group"), group),
                    _matches(target.get("version"), version)))
    patch = entry.get("patch") if isinstance(entry, Mapping) else entry
    path = entry.get("path") if isinstance(entry, Mapping) else entry
    if patch is None and isinstance(path, str):
        patch = _read(root, directory, path)
    inline = _load(str(patch)) if isinstance(patch, str) else patch
    if isinstance(inline, Mapping):
        meta = inline.get("metadata") or {}
        return inline.get("kind") == obj.kind and meta.get("name") == obj.name
    return False


def _load(text: str) -> Any:
    try:
        return rt_yaml().load(text)
    except YAMLError:
        return None


def _read(root: Path, directory: str, path: str) -> str | None:
    """The text of `path` (relative to repository directory `directory`), read through safefs:
    nothing outside the repository, no symlink out, no FIFO, within the size limit."""
    rel = posixpath.normpath(posixpath.join(directory, path))
    try:
        return read_text(root, rel)
    except FileRefusedError:
        return None


def _entries(doc: Mapping[str, Any], obj: RenderedObject, root: Path,
             directory: str) -> Iterator[tuple[str, int, Any]]:
    images = _images(obj.obj)
    for index, entry in enumerate(doc.get("images") or []):
        if isinstance(entry, Mapping) and (entry.get("name") in images
                                           or entry.get("newName") in images):
            yield f"images[{index}]", index, doc["images"]
    for field in PATCH_FIELDS:
        for index, entry in enumerate(doc.get(field) or []):
            if _selects(entry, obj, root, directory):
                yield f"{field}[{index}]", index, doc[field]


def selecting_entries(root: Path, rendered: RenderedKustomization,
                      obj: RenderedObject) -> list[SelectingEntry]:
    """The images/patch entries (team files, then the Flux Kustomization) that select `obj`."""
    found: list[SelectingEntry] = []
    files = sorted({t.file for t in obj.origin.transformers if t.file})
    for file in files:
        text = _read(root, ".", file)
        doc = _load(text) if text is not None else None
        if isinstance(doc, Mapping):
            found += [SelectingEntry(field, file, item_line(seq, index))
                      for field, index, seq in _entries(doc, obj, root, posixpath.dirname(file))]
    flux = rendered.kustomization
    if flux.file:
        found += [SelectingEntry(f"spec.{field}", flux.file, flux.line)
                  for field, _index, _seq in _entries(flux.spec, obj, root, flux.path)]
    return found
