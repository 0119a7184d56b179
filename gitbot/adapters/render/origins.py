"""Where a rendered object comes from: kustomize's build annotations mapped to file and line.

`config.kubernetes.io/origin` gives the source file (relative to the built directory) or the
generator and the kustomization file that configured it; `alpha.config.kubernetes.io/
transformations` lists the transformers that ran over the object. Both are removed from the
object (Flux would not apply them) unless the team's own kustomization asked for them. The line
is found by looking for the object (kind and name) in its source file. Called by `flux`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitbot.adapters.render.kustomize import ORIGIN_ANNOTATION, TRANSFORM_ANNOTATION
from gitbot.adapters.render.model import Origin, Transformer
from gitbot.adapters.render.yamldocs import load_mappings, load_one
from gitbot.adapters.safefs import FileRefusedError, read_text

ORIGIN = ORIGIN_ANNOTATION
TRANSFORMATIONS = TRANSFORM_ANNOTATION


def _parse(text: object) -> Any:
    return load_one(text) if isinstance(text, str) else None


def _repo_path(build_dir: str, relative: object) -> str | None:
    if not isinstance(relative, str) or not relative:
        return None
    joined = posixpath.normpath(posixpath.join(build_dir, relative))
    return None if joined.startswith("..") else joined


class OriginFinder:
    """Maps origins to repository files and lines, caching each source file it reads."""

    def __init__(self, artifact: Path) -> None:
        self._artifact = artifact
        self._files: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}

    def line_of(self, file: str, kind: str, name: str) -> int | None:
        if file not in self._files:
            try:
                self._files[file] = load_mappings(read_text(self._artifact, file))
            except FileRefusedError:
                self._files[file] = []
        docs = [(line, doc) for line, doc in self._files[file] if doc.get("kind") == kind]
        named = [line for line, doc in docs if (doc.get("metadata") or {}).get("name") == name]
        if named:
            return named[0]
        return docs[0][0] if len(docs) == 1 else None

    def split(self, obj: Mapping[str, Any], build_dir: str, kustomization: str,
              keep: frozenset[str]) -> tuple[dict[str, Any], Origin]:
        """The object without gitbot's build annotations, and its Origin."""
        plain = dict(obj)
        meta = dict(plain.get("metadata") or {})
        annotations = dict(meta.get("annotations") or {})
        origin = _parse(annotations.get(ORIGIN)) or {}
        transformations = _parse(annotations.get(TRANSFORMATIONS)) or []
        for key in (ORIGIN, TRANSFORMATIONS):
            if key not in keep:
                annotations.pop(key, None)
        if annotations:
            meta["annotations"] = annotations
        else:
            meta.pop("annotations", None)
        plain["metadata"] = meta
        return plain, self._origin(plain, origin, transformations, build_dir, kustomization)

    def _origin(self, obj: Mapping[str, Any], origin: Mapping[str, Any], transformations: Any,
                build_dir: str, kustomization: str) -> Origin:
        transformers = tuple(
            Transformer(str((t.get("configuredBy") or {}).get("kind", "")),
                        _repo_path(build_dir, t.get("configuredIn")))
            for t in transformations if isinstance(t, Mapping))
        if origin.get("path"):
            file = _repo_path(build_dir, origin.get("path"))
            name = str((obj.get("metadata") or {}).get("name", ""))
            line = self.line_of(file, str(obj.get("kind", "")), name) if file else None
            return Origin(kustomization, file, line, transformers=transformers)
        generator = (origin.get("configuredBy") or {}).get("kind")
        file = _repo_path(build_dir, origin.get("configuredIn"))
        return Origin(kustomization, file, None, generator=str(generator) if generator else None,
                      transformers=transformers)
