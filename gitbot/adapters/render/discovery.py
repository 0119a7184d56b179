"""Find the Flux Kustomizations of a repository and the cluster gitbot serves.

A cluster is a directory holding Flux Kustomizations (or a `flux-system/` with them) that no
Kustomization of another cluster builds. `choose_cluster` applies the `flux.cluster` setting
(CONTRACT.md): omitted, the only cluster; several and none chosen is an error; a repository
without any Flux Kustomization yields None (plain repository). Called by `flux.render_repository`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitbot.adapters.render.model import FluxKustomization, SourceRef, is_flux_kustomization
from gitbot.adapters.render.sourceignore import SourceIgnore, listed, walk_key
from gitbot.adapters.render.yamldocs import load_mappings
from gitbot.adapters.safefs import FileRefusedError, read_text
from gitbot.core.parse_names import LABEL, SUBDOMAIN, name_problem
from gitbot.errors import InvalidInputError

BOOTSTRAP_NAME = "flux-system"
FLUX_MARKERS = ("kustomize.toolkit.fluxcd.io", "source.toolkit.fluxcd.io")
_FLUX_KIND = re.compile(r"^kind:\s*[\"']?(Kustomization|GitRepository)\b", re.MULTILINE)


class DiscoveryError(InvalidInputError):
    """The Flux layout cannot be understood: bad Kustomization, ambiguous or unknown cluster."""


@dataclass(frozen=True)
class Scan:
    """The Flux objects declared in the repository's files (before any rendering)."""

    kustomizations: tuple[FluxKustomization, ...]
    git_repositories: Mapping[tuple[str, str], Mapping[str, Any]]  # (namespace, name) -> doc


def normalize_path(raw: object, where: str) -> str:
    """A Flux `spec.path` as a repository-relative directory ("." for the root)."""
    if raw is None or raw == "":
        return "."
    if not isinstance(raw, str):
        raise DiscoveryError(f"{where}: spec.path: must be a string")
    path = posixpath.normpath(raw.strip().lstrip("/")) if raw.strip().lstrip("/") else "."
    if path == ".." or path.startswith("../"):
        raise DiscoveryError(f"{where}: spec.path: {raw!r} leaves the repository")
    return path


def parse_kustomization(doc: Mapping[str, Any], file: str | None,
                        line: int | None) -> FluxKustomization:
    """A FluxKustomization from its document; bad fields are a DiscoveryError with FILE:LINE."""
    meta = doc.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    where = f"{file}:{line}: Kustomization {namespace}/{name}"
    if not isinstance(name, str) or not name:
        raise DiscoveryError(f"{file}:{line}: Kustomization: metadata.name: required")
    for value, rule, key in ((name, SUBDOMAIN, "metadata.name"),
                             (str(namespace), LABEL, "metadata.namespace")):
        problem = name_problem(value, rule)  # it names gitbot's own files and directory
        if problem:
            raise DiscoveryError(f"{file}:{line}: Kustomization: {key}: {problem}")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise DiscoveryError(f"{where}: spec: required")
    ref = spec.get("sourceRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        raise DiscoveryError(f"{where}: spec.sourceRef.name: required")
    source = SourceRef(str(ref.get("kind", "GitRepository")), str(ref["name"]),
                       str(ref.get("namespace") or namespace))
    return FluxKustomization(name=name, namespace=str(namespace),
                             path=normalize_path(spec.get("path"), where), source=source,
                             spec=spec, file=file, line=line)


def scan(root: Path, ignore: SourceIgnore, files: FluxFiles | None = None) -> Scan:
    """Every Flux Kustomization and GitRepository in the files that reach Flux.

    `files` (kept by the caller between scans: the `RenderCache`'s) remembers each file's Flux
    documents, so only files whose text changed are parsed again."""
    files = files if files is not None else FluxFiles()
    files.full(root, ignore)
    return files.scan()


@dataclass(frozen=True)
class _Found:
    """The Flux objects of one file (up to its first bad Kustomization, `error`)."""

    text: str
    kustomizations: tuple[FluxKustomization, ...]
    repositories: tuple[tuple[tuple[str, str], Mapping[str, Any]], ...]
    error: DiscoveryError | None


class FluxFiles:
    """The Flux objects declared in each file that reaches Flux, kept between scans: `full`
    reads every file (parsing only texts not seen before), `update` only the files named;
    `scan` assembles them in walk order (as one walk would find them). Called by `scan` and
    `mirror.Mirror` (a tracked working tree: only the changed files)."""

    def __init__(self) -> None:
        self._files: dict[str, _Found] = {}
        self._order: list[str] | None = []  # the files in walk order (None: sort again)
        self._links: set[str] = set()  # symlinks read (their target may change alone)

    def full(self, root: Path, ignore: SourceIgnore) -> None:
        before, self._files, self._links = self._files, {}, set()
        for rel in ignore.files(root):
            self._read(root, rel, before.get(rel))
        self._order = list(self._files)

    def update(self, root: Path, ignore: SourceIgnore, rels: Iterable[str]) -> None:
        previous, self._order = self._order, None  # (an error half-way: sorted again)
        for rel in {*rels, *self._links}:
            self._links.discard(rel)
            before = self._files.pop(rel, None)
            if listed(root, rel) and not ignore.ignored(rel):
                self._read(root, rel, before)
        if previous is not None and len(previous) == len(self._files) \
                and all(rel in self._files for rel in previous):
            self._order = previous  # the same files as before: the same order

    def _read(self, root: Path, rel: str, before: _Found | None) -> None:
        if not rel.endswith((".yaml", ".yml")):
            return
        if (root / rel).is_symlink():
            self._links.add(rel)
        try:  # regular files inside the root only (no FIFO, /dev/zero, 50 MB file)
            text = read_text(root, rel)
        except FileRefusedError:
            return
        if not any(marker in text for marker in FLUX_MARKERS):
            return
        self._files[rel] = before if before is not None and before.text == text \
            else _parse(rel, text)

    def scan(self) -> Scan:
        if self._order is None:
            self._order = sorted(self._files, key=walk_key)
        kustomizations: list[FluxKustomization] = []
        repositories: dict[tuple[str, str], Mapping[str, Any]] = {}
        for rel in self._order:
            found = self._files[rel]
            kustomizations += found.kustomizations
            if found.error is not None:
                raise DiscoveryError(str(found.error))
            repositories.update(found.repositories)
        return Scan(tuple(kustomizations), repositories)


def _parse(rel: str, text: str) -> _Found:
    kustomizations: list[FluxKustomization] = []
    repositories: list[tuple[tuple[str, str], Mapping[str, Any]]] = []
    for line, doc in load_mappings(text, _may_be_flux_object):
        if is_flux_kustomization(doc):
            try:
                kustomizations.append(parse_kustomization(doc, rel, line))
            except DiscoveryError as err:
                return _Found(text, tuple(kustomizations), tuple(repositories), err)
        elif (doc.get("kind") == "GitRepository"
              and str(doc.get("apiVersion", "")).startswith("source.toolkit.fluxcd.io/")):
            meta = doc.get("metadata") or {}
            repositories.append(((str(meta.get("namespace") or "default"),
                                  str(meta.get("name"))), doc))
    return _Found(text, tuple(kustomizations), tuple(repositories), None)


def _may_be_flux_object(chunk: str) -> bool:
    return bool(_FLUX_KIND.search(chunk)) and any(m in chunk for m in FLUX_MARKERS)


def _home(kustomization: FluxKustomization) -> str:
    directory = posixpath.dirname(kustomization.file or "") or "."
    if posixpath.basename(directory) == BOOTSTRAP_NAME:
        directory = posixpath.dirname(directory) or "."
    return directory


def _within(path: str, directory: str) -> bool:
    return directory == "." or path == directory or path.startswith(directory + "/")


def clusters(found: Scan) -> list[str]:
    """The cluster directories: homes of Flux Kustomizations not built by another cluster's."""
    homes = sorted({_home(k) for k in found.kustomizations})
    nested = {home for home in homes for k in found.kustomizations
              if _home(k) != home and _within(home, k.path) and not _within(_home(k), k.path)}
    return [home for home in homes if home not in nested]


def choose_cluster(root: Path, found: Scan, configured: str | None) -> str | None:
    """The cluster directory to serve, per `flux.cluster`; None for a plain repository."""
    if configured:
        chosen = normalize_path(configured, "config.yaml: flux.cluster")
        if not (root / chosen).is_dir():
            raise DiscoveryError(f"config.yaml: flux.cluster: directory {chosen!r} "
                                 "not found in the repository")
        return chosen
    candidates = clusters(found)
    if not candidates:
        return None
    if len(candidates) > 1:
        raise DiscoveryError("config.yaml: flux.cluster: the repository holds several clusters ("
                             + ", ".join(candidates) + "); set flux.cluster to the one gitbot "
                             "serves (gitbot validate --cluster DIR)")
    return candidates[0]


def root_kustomization(found: Scan, cluster: str) -> FluxKustomization:
    """The Kustomization that builds the cluster directory (bootstrap's `flux-system`).

    When the repository does not declare it (gitops-istio, flux2-kustomize-helm-example keep
    only a placeholder), it is the one `flux bootstrap` creates: flux-system/flux-system
    building the cluster directory from GitRepository flux-system.
    """
    for kustomization in found.kustomizations:
        if kustomization.path == cluster and _home(kustomization) == cluster:
            return kustomization
    source = SourceRef("GitRepository", BOOTSTRAP_NAME, BOOTSTRAP_NAME)
    return FluxKustomization(name=BOOTSTRAP_NAME, namespace=BOOTSTRAP_NAME, path=cluster,
                             source=source, spec={"path": f"./{cluster}", "prune": True})
