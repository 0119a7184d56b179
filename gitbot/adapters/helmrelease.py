"""Which Flux HelmRelease renders a Canary's target Deployment, and its valuesFrom digests.

Entry points (to be called by the specs loader / `validate` when a Canary's target Deployment
is not in the repository, and by the revision check):

- `release_candidates(root, view)`: every HelmRelease as Flux applies it (from the FluxView's
  rendered objects when there is one, else from the loose YAML files), with file and line;
- `resolve(...)` -> `Resolution`: the one HelmRelease (by the Canary's
  `gitbot.io/helm-release` annotation, else by release name/namespace and the chart naming
  rule of `gitbot.core.helm`), or why not (none, several, annotation naming a missing
  release, bad annotation). `Resolution.describe()` is the line `validate` prints;
- `values_from_digests(release, objects)`: a digest per `valuesFrom` ConfigMap/Secret, for
  `gitbot.core.helm_primary.release_revision` (content hashed, never returned or logged);
- `config_map_values(release, objects)`: the parsed values of its `valuesFrom` ConfigMaps, for
  `gitbot.core.helm_primary.plan_values_from` (Secrets are never read here).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from gitbot.adapters import safefs
from gitbot.adapters.render import FluxView
from gitbot.adapters.yamlio import YamlFile, make_yaml
from gitbot.core.helm import (
    HelmOptions,
    HelmSpecError,
    check_release_name,
    is_helm_release,
    metadata_key,
    parse_options,
    produces,
)
from gitbot.core.helm_primary import values_from_label
from gitbot.errors import InvalidInputError


@dataclass(frozen=True)
class Candidate:
    """A HelmRelease as Flux applies it, with where it is declared."""

    release: Mapping[str, Any]
    file: str | None
    line: int | None
    kustomization: str | None = None  # "ns/name" of the Flux Kustomization, None for loose files

    @property
    def key(self) -> tuple[str, str]:
        return metadata_key(self.release)

    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "?")
        via = f", Kustomization {self.kustomization}" if self.kustomization else ""
        return f"HelmRelease {self.key[0]}/{self.key[1]} ({place}{via})"


@dataclass(frozen=True)
class Resolution:
    """The HelmRelease of a Canary, or why there is none (`error`)."""

    canary: str  # "namespace/name"
    release: Candidate | None = None
    options: HelmOptions = field(default_factory=HelmOptions)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.release is not None

    def describe(self) -> str:
        if self.release is not None:
            return f"Canary {self.canary}: target rendered by {self.release.where()}"
        return f"Canary {self.canary}: {self.error}"


def release_candidates(root: Path, view: FluxView | None) -> list[Candidate]:
    """Every HelmRelease: rendered (with a FluxView) or read from the loose YAML files."""
    if view is not None:
        return [Candidate(o.obj, o.origin.file, o.origin.line, o.origin.kustomization)
                for o in view.objects() if is_helm_release(o.obj)]
    found: list[Candidate] = []
    for rel in safefs.repo_files(root, (".yaml", ".yml"), skip_hidden=True):
        found += _file_candidates(root, rel)
    return found


def _file_candidates(root: Path, rel: str) -> list[Candidate]:
    try:
        docs = YamlFile.read(root, rel).documents
    except InvalidInputError:
        return []  # unreadable files are reported by the specs loader
    found = []
    for doc in docs:
        try:
            data = doc.data
        except InvalidInputError:
            continue  # e.g. a Helm chart template: not YAML before rendering
        if isinstance(data, Mapping) and is_helm_release(data):
            found.append(Candidate(data, rel, doc.line))
    return found


def resolve(canary: str, target: tuple[str, str], annotations: Mapping[str, str],
            candidates: Iterable[Candidate], kustomization: str | None = None) -> Resolution:
    """The HelmRelease rendering Deployment `target` (namespace, name) for Canary `canary`.

    `kustomization` restricts the search to the Canary's own Flux Kustomization.
    """
    pool = [c for c in candidates if kustomization is None or c.kustomization == kustomization]
    try:
        options = parse_options(annotations, canary.split("/", 1)[0])
    except HelmSpecError as err:
        return Resolution(canary, error=str(err))
    if options.release is not None:
        named = [c for c in pool if c.key == options.release]
        if not named:
            ns, name = options.release
            return Resolution(canary, options=options, error=(
                f"metadata.annotations.gitbot.io/helm-release: HelmRelease {ns}/{name} not "
                f"found{_scope(kustomization)}"))
        return _checked(canary, named, options)
    matching = [c for c in pool if produces(c.release, target[1], target[0], options.name_path)]
    if not matching:
        return Resolution(canary, options=options, error=(
            f"Deployment {target[0]}/{target[1]} is neither in the repository nor rendered by "
            f"a HelmRelease{_scope(kustomization)} (by release name, namespace and the chart's "
            f"fullname rule; {len(pool)} HelmRelease(s) looked at); name it with the annotation "
            "gitbot.io/helm-release: NAME or NAMESPACE/NAME"))
    return _checked(canary, matching, options)


def _scope(kustomization: str | None) -> str:
    return f" in Kustomization {kustomization}" if kustomization else ""


def _checked(canary: str, found: list[Candidate], options: HelmOptions) -> Resolution:
    if len(found) > 1:
        listed = "; ".join(c.where() for c in found)
        return Resolution(canary, options=options, error=(
            f"several HelmReleases may render the target: {listed}; name one with the "
            "annotation gitbot.io/helm-release"))
    try:
        check_release_name(found[0].release)
    except HelmSpecError as err:
        return Resolution(canary, options=options, error=f"{found[0].where()}: {err}")
    return Resolution(canary, found[0], options)


def values_from_digests(release: Mapping[str, Any],
                        objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """`Kind/name[:key]` -> digest of that ConfigMap/Secret entry (or "missing"/"optional").

    `objects` are the objects Flux applies with the release (rendered or loose); only their
    digests leave this function, so Secret values appear in no output.
    """
    index = _index(release, objects)
    digests: dict[str, str] = {}
    for ref in (release.get("spec") or {}).get("valuesFrom") or ():
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        key = str(ref.get("valuesKey") or "values.yaml")
        label = values_from_label(ref)
        found = index.get((kind, name))
        if found is None:
            digests[label] = "optional" if ref.get("optional") else "missing"
            continue
        content = {section: (found.get(section) or {}).get(key)
                   for section in ("data", "stringData", "binaryData")}
        text = json.dumps([content, ref.get("targetPath")], sort_keys=True, default=str)
        digests[label] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return digests


def _index(release: Mapping[str, Any], objects: Iterable[Mapping[str, Any]]
           ) -> dict[tuple[str, str], Mapping[str, Any]]:
    """(kind, name) -> object, for the objects in the HelmRelease's own namespace."""
    namespace = metadata_key(release)[0]
    return {(str(o.get("kind")), str((o.get("metadata") or {}).get("name"))): o
            for o in objects if (o.get("metadata") or {}).get("namespace", namespace) == namespace}


def config_map_values(release: Mapping[str, Any],
                      objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`ConfigMap/name:key` -> the YAML values in that entry (absent when missing/unparsable)."""
    index = _index(release, objects)
    found: dict[str, Any] = {}
    for ref in (release.get("spec") or {}).get("valuesFrom") or ():
        config = index.get(("ConfigMap", str(ref.get("name"))))
        if ref.get("kind") != "ConfigMap" or config is None:
            continue
        text = (config.get("data") or {}).get(str(ref.get("valuesKey") or "values.yaml"))
        try:
            found[values_from_label(ref)] = make_yaml().load(text) if text else None
        except (YAMLError, InvalidInputError):
            continue  # left out: plan_values_from keeps the reference and says why
    return found
