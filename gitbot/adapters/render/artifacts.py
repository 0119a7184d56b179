"""Flux 2.7 ExternalArtifacts that are a relocated subtree of the repository gitbot renders.

A Flux Kustomization with `sourceRef: {kind: ExternalArtifact, name: N}` builds what an
`ArtifactGenerator` (source.extensions.fluxcd.io) packs. When that generator is among the
rendered objects (same namespace), its only source is the repository's own GitRepository, and
artifact N only copies `@<alias>/<prefix>/<sub>/**` to `@artifact/<sub>/` (or
`@<alias>/<prefix>/**` to `@artifact/`) with one common `<prefix>` (no exclude, no renaming,
default strategy), the artifact is the repository's `<prefix>` directory restricted to the
copied `<sub>` directories. `resolve` then gives the Kustomization with its repository path
(`<prefix>/<path>`) and the repository's GitRepository as source, so it renders, and its
origins and gitbot's edits name real repository files. Anything else is a reason to skip it
(`Refused`). `outside` names rendered inputs the artifact would not hold (files the reached
kustomization files name, objects' origins). Called by `flux`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from gitbot.adapters.render.confine import references
from gitbot.adapters.render.kustomize import kustomization_file
from gitbot.adapters.render.model import FluxKustomization, RenderedObject, SourceRef
from gitbot.adapters.render.yamldocs import load_one
from gitbot.adapters.safefs import FileRefusedError, read_text

GENERATOR_GROUP = "source.extensions.fluxcd.io/"
ARTIFACT_KIND = "ExternalArtifact"
_SEGMENT = r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*"
_FROM = re.compile(rf"^@([A-Za-z0-9_-]+)/(?:({_SEGMENT})/)?\*\*$")
_TO = re.compile(rf"^@artifact/(?:({_SEGMENT})/)?$")
_ARTIFACT_KEYS = {"name", "copy", "originRevision", "revision"}


class Refused(Exception):
    """The ExternalArtifact is not a plain subtree of the repository (message says why)."""


def is_generator(obj: Mapping[str, Any]) -> bool:
    return (obj.get("kind") == "ArtifactGenerator"
            and str(obj.get("apiVersion", "")).startswith(GENERATOR_GROUP))


def resolve(kustomization: FluxKustomization, objects: Iterable[RenderedObject],
            repository: SourceRef) -> FluxKustomization:
    """`kustomization` read from the repository; `Refused` when its artifact is not a subtree."""
    ref = kustomization.source
    generators = [(o, a) for o in objects if is_generator(o.obj)
                  and (o.namespace or "default") == ref.namespace
                  for a in _artifacts(o.obj) if a.get("name") == ref.name]
    if not generators:
        raise Refused(f"no rendered ArtifactGenerator in namespace {ref.namespace} "
                      f"produces {ref.name!r}")
    if len(generators) > 1:
        raise Refused(f"several rendered ArtifactGenerators produce {ref.name!r}")
    generator, artifact = generators[0]
    where = f"{generator.origin.where()}: ArtifactGenerator {ref.namespace}/{generator.name}"
    alias = _only_source(generator, repository, where)
    prefix, subs = _copies(artifact, alias, where)
    inner = kustomization.path
    if not any(s == "." or inner == s or inner.startswith(s + "/") for s in subs):
        raise Refused(f"spec.path ./{inner} is not among the directories {where} copies "
                      f"into {ref.name!r}")
    copied = tuple(sorted(posixpath.normpath(posixpath.join(prefix, s)) for s in subs))
    return replace(kustomization, path=posixpath.normpath(posixpath.join(prefix, inner)),
                   source=repository, artifact=f"{ref.namespace}/{ref.name}", copied=copied)


def _artifacts(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
    found = spec.get("artifacts") if isinstance(spec, Mapping) else None
    return [a for a in found or [] if isinstance(a, Mapping)] if isinstance(found, list) else []


def _only_source(generator: RenderedObject, repository: SourceRef, where: str) -> str:
    """The alias of the generator's only source, which must be the repository itself."""
    sources = (generator.obj.get("spec") or {}).get("sources")
    if not isinstance(sources, list) or len(sources) != 1 or not isinstance(sources[0], Mapping):
        raise Refused(f"{where}: spec.sources: one source (the repository) is supported, "
                      f"found {len(sources) if isinstance(sources, list) else 0}")
    source = sources[0]
    namespace = str(source.get("namespace") or generator.namespace or "default")
    found = SourceRef(str(source.get("kind", "")), str(source.get("name", "")), namespace)
    if found != repository:
        raise Refused(f"{where}: spec.sources: {found} is not the repository's {repository}")
    return str(source.get("alias", ""))


def _copies(artifact: Mapping[str, Any], alias: str, where: str) -> tuple[str, list[str]]:
    """The common repository prefix and the artifact directories the copy operations fill."""
    name = artifact.get("name")
    extra = sorted(set(artifact) - _ARTIFACT_KEYS)
    if extra:
        raise Refused(f"{where}: artifact {name!r}: {', '.join(extra)} not supported")
    copies = artifact.get("copy")
    if not isinstance(copies, list) or not copies:
        raise Refused(f"{where}: artifact {name!r}: copy: required")
    prefixes, subs = set(), []
    for i, item in enumerate(copies):
        at = f"{where}: artifact {name!r}: copy[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"from", "to", "strategy"}:
            extra = sorted(set(item) - {"from", "to", "strategy"}) if isinstance(item, Mapping) \
                else ["not a mapping"]
            raise Refused(f"{at}: {', '.join(extra)} not supported")
        if item.get("strategy") not in (None, "Overwrite"):
            raise Refused(f"{at}: strategy {item.get('strategy')!r} not supported")
        source, target = _FROM.match(str(item.get("from", ""))), _TO.match(str(item.get("to", "")))
        if source is None or source[1] != alias or target is None:
            raise Refused(f"{at}: only from '@{alias}/<dir>/**' to '@artifact/<dir>/' is "
                          f"supported, found from {item.get('from')!r} to {item.get('to')!r}")
        path, sub = source[2] or "", target[1] or ""
        if sub and path != sub and not path.endswith("/" + sub):
            raise Refused(f"{at}: {item.get('to')!r} renames {item.get('from')!r}")
        prefixes.add(path[: len(path) - len(sub)].rstrip("/") or ".")
        subs.append(sub or ".")
    if len(prefixes) != 1:
        raise Refused(f"{where}: artifact {name!r}: copies from several repository "
                      f"directories ({', '.join(sorted(prefixes))})")
    return prefixes.pop(), subs


def outside(kustomization: FluxKustomization, objects: Iterable[RenderedObject],
            artifact: Path) -> str | None:
    """A problem line when a rendered input lies outside the directories the artifact copies:
    a file a kustomization file reached from the build names, or an object's origin."""
    if kustomization.artifact is None:
        return None
    copied = kustomization.copied

    def inside(file: str) -> bool:
        return any(c == "." or file == c or file.startswith(c + "/") for c in copied)

    tail = (f"outside what ExternalArtifact {kustomization.artifact} copies "
            f"({', '.join(copied)}): it builds in the repository but not in the cluster; "
            "not rendered")
    for source, named in _referenced(artifact, kustomization.path):
        if not inside(named):
            return f"{kustomization.where()}: {source} names {named}, {tail}"
    for obj in objects:
        for file in (obj.origin.file, *(t.file for t in obj.origin.transformers)):
            if file and not inside(file):
                return (f"{kustomization.where()}: {obj.kind} {obj.name} is rendered from "
                        f"{file}, {tail}")
    return None


def _referenced(artifact: Path, start: str) -> Iterator[tuple[str, str]]:
    """(kustomization file, repository path) of every local path the kustomization files
    reached from directory `start` name (remote bases and inline patches skipped)."""
    queue, seen = [start], {start}
    while queue:
        directory = queue.pop()
        found = kustomization_file(artifact / directory)
        if found is None:
            continue
        rel = found.relative_to(artifact).as_posix()
        try:
            doc = load_one(read_text(artifact, rel))
        except FileRefusedError:
            continue  # kustomize reports it
        for _field, value, _line in references(doc) if isinstance(doc, Mapping) else ():
            value = value.strip()
            if not value or "\n" in value or "://" in value or value.startswith("/"):
                continue
            path = posixpath.normpath(posixpath.join(directory, value))
            if not (artifact / path).exists():
                continue  # a remote base (github.com/...) or a missing file kustomize names
            yield rel, path
            if (artifact / path).is_dir() and path not in seen:
                seen.add(path)
                queue.append(path)
