"""The files one Flux Kustomization's build reads, and a digest of their content.

kustomize reads the built directory's kustomization file and whatever it names (resources,
bases, components, patches, generator files, replacements, configurations, ...); Flux lists a
directory without a kustomization file. Rather than knowing every field, `closure` is
conservative: every directory the build enters is an input as a whole *tree* (all its files in
the artifact), and every string of a kustomization file found in such a tree that names an
existing file or directory of the artifact (relative to that file, `key=path` forms included)
is an input too, directories again as trees, followed recursively. A remote entry
(`remote.is_remote`: `https://`, `git@`, `github.com/...`, in `resources` as in a patch's
`path` or a `helmCharts` repo) makes the build *volatile*: never cached.

A `FileDigests` lives as long as its artifact copy: the persistent copy of a tracked working
tree (`mirror`) keeps it between renders, dropping the digests of the files it updates and the
closures those files may change (`forget`), so a render after an edit reads only what changed.
`digest` hashes, for the artifact copy being rendered, the Flux Kustomization object (name,
namespace, path, spec) with the path and content of every input file: equal digests render
equally. Called by `gitbot.adapters.render.cache.RenderCache`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from gitbot.adapters.render.kustomize import KUSTOMIZATION_FILES
from gitbot.adapters.render.model import FluxKustomization
from gitbot.adapters.render.remote import entries, is_remote
from gitbot.adapters.render.yamldocs import load_all

_MAX_REFERENCE = 1024  # longer strings are inline patches or literals, never paths


@dataclass(frozen=True)
class Inputs:
    """What a build reads: files (repository-relative) and whether it reaches the network."""

    files: tuple[str, ...]
    volatile: bool = False


class FileDigests:
    """Content digests of an artifact's files, each file read once per artifact copy;
    kustomization files parsed once per content (shared across copies); the closure of each
    built path, kept until a file it depends on changes (`forget`)."""

    def __init__(self, references: dict[str, tuple[list[str], bool]] | None = None) -> None:
        self._digests: dict[str, str] = {}
        self._references = references if references is not None else {}
        self._closures: dict[str, tuple[Inputs, frozenset[str]]] = {}

    def closure(self, artifact: Path, path: str) -> Inputs:
        """`closure(artifact, path, self)`, computed once until `forget` drops it."""
        if path not in self._closures:
            self._closures[path] = _closure(artifact, path, self)
        return self._closures[path][0]

    def forget(self, modified: set[str], moved: set[str]) -> None:
        """Files of the copy changed: `modified` in content, `moved` appeared or disappeared.
        Their digests go, and every closure that read a modified kustomization file or
        probed (tested the existence of, or listed) a moved path or one of its directories."""
        for rel in modified | moved:
            self._digests.pop(rel, None)
        read = {rel for rel in modified if posixpath.basename(rel) in KUSTOMIZATION_FILES}
        probes = {prefix for rel in moved for prefix in _prefixes(rel)}
        self._closures = {path: (found, probed) for path, (found, probed)
                          in self._closures.items()
                          if probed.isdisjoint(probes) and read.isdisjoint(found.files)}

    def digest(self, artifact: Path, rel: str) -> str:
        if rel not in self._digests:
            try:
                data = (artifact / rel).read_bytes()
            except OSError:
                self._digests[rel] = "-"
            else:
                self._digests[rel] = hashlib.sha1(data).hexdigest()
        return self._digests[rel]

    def references(self, artifact: Path, rel: str) -> tuple[list[str], bool]:
        """The strings of a kustomization file that may name a path; True when it names a
        remote resource."""
        key = self.digest(artifact, rel)
        if key not in self._references:
            self._references[key] = _references(artifact / rel)
        return self._references[key]


def closure(artifact: Path, path: str, digests: FileDigests) -> Inputs:
    """The input files of building `path` (see the module docstring)."""
    return _closure(artifact, path, digests)[0]


def _closure(artifact: Path, path: str,
             digests: FileDigests) -> tuple[Inputs, frozenset[str]]:
    """The inputs and every path whose existence or listing they depend on."""
    files: set[str] = set()
    trees: set[str] = set()
    probed: set[str] = set()
    volatile = False
    pending = [path]
    while pending:
        rel = pending.pop()
        probed.add(rel)
        target = artifact / rel
        if target.is_file():
            files.add(rel)
            continue
        if not target.is_dir() or _covered(rel, trees):
            continue
        trees.add(rel)
        for found in _tree_files(artifact, rel):
            files.add(found)
            if posixpath.basename(found) not in KUSTOMIZATION_FILES:
                continue
            strings, remote = digests.references(artifact, found)
            volatile = volatile or remote
            base = posixpath.dirname(found) or "."
            pending.extend(p for s in strings for p in _candidates(artifact, base, s, probed))
    return Inputs(tuple(sorted(files)), volatile), frozenset(probed)


def _prefixes(rel: str) -> Iterator[str]:
    """`rel` and each directory above it, up to "." (the artifact itself)."""
    while rel not in ("", "."):
        yield rel
        rel = posixpath.dirname(rel)
    yield "."


def digest(artifact: Path, kustomization: FluxKustomization, inputs: Inputs,
           digests: FileDigests) -> str:
    """The cache key of a build: the Flux object and the content of every input file."""
    identity = {"name": kustomization.name, "namespace": kustomization.namespace,
                "path": kustomization.path, "source": str(kustomization.source),
                "spec": kustomization.spec}
    hasher = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    for rel in inputs.files:
        hasher.update(f"\0{rel}\0{digests.digest(artifact, rel)}".encode())
    return hasher.hexdigest()


def _covered(rel: str, trees: set[str]) -> bool:
    return any(t == "." or rel == t or rel.startswith(t + "/") for t in trees)


def _tree_files(artifact: Path, rel: str) -> Iterator[str]:
    top = artifact / rel
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        base = Path(dirpath).relative_to(artifact).as_posix()
        for name in sorted(filenames):
            yield name if base == "." else f"{base}/{name}"


def _candidates(artifact: Path, base: str, text: str, probed: set[str]) -> Iterator[str]:
    for part in {text, text.partition("=")[2]}:
        part = part.strip()
        if not part or part.startswith("/"):
            continue
        joined = posixpath.normpath(posixpath.join(base, part))
        if joined == ".." or joined.startswith("../"):
            continue
        probed.add(joined)
        if (artifact / joined).exists():
            yield joined


def _references(path: Path) -> tuple[list[str], bool]:
    try:
        docs = load_all(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return [], False  # kustomize reports it when it builds
    strings: list[str] = []
    remote = False
    for doc in docs:
        _strings(doc, strings)
        if isinstance(doc, Mapping):
            remote = remote or any(is_remote(value) for _, value, _ in entries(doc))
    return strings, remote


def _strings(node: Any, found: list[str]) -> None:
    if isinstance(node, Mapping):
        for value in node.values():
            _strings(value, found)
    elif isinstance(node, list):
        for item in node:
            _strings(item, found)
    elif isinstance(node, str) and len(node) <= _MAX_REFERENCE and "\n" not in node \
            and not is_remote(node):
        found.append(node)
