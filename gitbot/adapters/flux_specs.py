"""Canaries, targets, MetricTemplates and AlertProviders of a Flux repository, as Flux renders them.

`load_flux_specs(root, cluster, ...)` renders the served cluster (`gitbot.adapters.render`) and
parses every rendered `flagger.app` object with the pure parser, each problem at the object's
source `FILE:LINE`; it returns None for a plain repository (the caller then reads loose files).
Only what kustomize renders is read, so Helm chart templates and ignored files never are. The
result's `flux` (`FluxSpecs`) says which Flux Kustomization renders each canary and gives its
effective (rendered) target, and `cache` the `RenderCache` the render went through (the
FluxEditor verifies its edits through it: only the edited Kustomizations are built again).
Called by `specs.load_repository`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitbot.adapters.helm_canary import HelmTarget
from gitbot.adapters.helm_specs import NOT_FOUND, resolve_targets
from gitbot.adapters.render import (
    FluxView,
    RenderedKustomization,
    RenderedObject,
    effective_revision,
    render_repository,
)
from gitbot.adapters.render.cache import RenderCache
from gitbot.adapters.spec_documents import Document, read_documents, to_plain
from gitbot.adapters.specs import Entry, SpecSet, checked_canaries
from gitbot.core.parse import is_flagger, parse_document
from gitbot.core.problems import Problem
from gitbot.core.spec import AlertProvider, Canary, MetricTemplate
from gitbot.errors import InvalidInputError

_WHERE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): Kustomization (?P<key>\S+): (?P<msg>.*)$",
                    re.DOTALL)
_AT_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<msg>.*)$", re.DOTALL)


@dataclass(frozen=True)
class FluxSpecs:
    """The rendered view behind a SpecSet and, per canary key, its Flux Kustomization."""

    view: FluxView
    kustomizations: Mapping[str, str]  # canary key -> "namespace/name" of its Kustomization
    autoscaled: frozenset[tuple[str, str]] = frozenset()  # (namespace, target) with an HPA
    helm: Mapping[str, HelmTarget] = field(default_factory=dict)  # canary key -> HelmRelease
    cache: RenderCache | None = field(default=None, compare=False, repr=False)
    remote_bases: bool = False  # security.remoteBases the view was rendered with

    def helm_target(self, canary: Canary) -> HelmTarget | None:
        """The HelmRelease that renders the canary's target (None: a rendered Deployment)."""
        return self.helm.get(canary.key)

    def rendered(self, canary: Canary) -> RenderedKustomization:
        return self.view.by_name(self.kustomizations[canary.key])

    def target(self, canary: Canary) -> RenderedObject | None:
        """The canary's Deployment as Flux applies it (its own Kustomization's first)."""
        name, namespace = canary.target.name, canary.namespace
        found = (self.rendered(canary).find("Deployment", name, namespace)
                 or self.view.find("Deployment", name, namespace))
        return found[0] if found else None

    def owner(self, obj: RenderedObject) -> RenderedKustomization:
        return self.view.by_name(obj.origin.kustomization)

    def notes(self) -> list[str]:
        """What `validate` says about the Kustomizations it skipped (not errors)."""
        start = self.view.kustomizations[0].kustomization.source if self.view.kustomizations \
            else None
        return [f"{k.where()}: skipped: its source {k.source} is not the repository's "
                f"{start or 'GitRepository'}; gitbot does not see what it applies"
                + (f" ({self.view.reason(k.key)})" if self.view.reason(k.key) else "")
                for k in sorted(self.view.external, key=lambda k: (k.file or "", k.line or 0))]

    def revision(self, canary: Canary) -> str:
        """The effective revision: the rendered pod template and the configs it uses (for a
        HelmRelease target: its chart version, values and valuesFrom content)."""
        helm = self.helm_target(canary)
        if helm is not None:
            return helm.revision
        target = self.target(canary)
        if target is None:
            return ""
        return effective_revision(self.owner(target), target)


def load_flux_specs(root: Path, cluster: str | None, no_cross_namespace_refs: bool = False,
                    cache: RenderCache | None = None, *,
                    remote_bases: bool = False) -> SpecSet | None:
    """The SpecSet of the served cluster's rendered objects; None for a plain repository.
    With `cache`, only the Kustomizations whose inputs changed since it last saw them are built;
    `remote_bases` is the config's `security.remoteBases`."""
    try:
        view = render_repository(root, cluster or None, cache=cache, remote_bases=remote_bases)
    except InvalidInputError as err:  # DiscoveryError, RenderError: one problem, no canary
        return SpecSet(problems=(render_problem(str(err)),))
    if view is None:
        return None
    problems: list[Problem] = [render_problem(message) for message in view.problems]
    parsed: list[Entry] = []
    owners: dict[int, str] = {}
    sources = _Sources(root)
    for item in view.objects():
        if not is_flagger(item.obj):
            continue
        doc = sources.document(item)
        obj, found = parse_document(doc.data, doc.locate, doc.path,
                                    item.namespace or "default", doc.index)
        problems.extend(found)
        if obj is not None:
            parsed.append((obj, doc))
            owners[id(obj)] = item.origin.kustomization
    deployments = {(o.namespace or "default", o.name) for o in view.find("Deployment")}
    helm = resolve_targets(root, view, parsed, owners, deployments)
    deployments |= helm.deployments(o for o, _ in parsed if isinstance(o, Canary))
    canaries = checked_canaries(parsed, deployments, problems, no_cross_namespace_refs)
    problems = _point_at_skipped(helm.explain(problems), view)
    templates = tuple(o for o, _ in parsed if isinstance(o, MetricTemplate))
    providers = tuple(o for o, _ in parsed if isinstance(o, AlertProvider))
    autoscaled = frozenset((c.namespace, c.target.name) for c in canaries if c.autoscaler)
    flux = FluxSpecs(view, {c.key: owners[id(c)] for c in canaries}, autoscaled,
                     {c.key: helm.resolved[c.key] for c in canaries if c.key in helm.resolved},
                     cache, remote_bases)
    return SpecSet(canaries, templates, providers, tuple(problems), flux=flux)


def _point_at_skipped(problems: list[Problem], view: FluxView) -> list[Problem]:
    """A target "not found in the repository" while Kustomizations of other sources were
    skipped (Flux's getting-started: podinfo from its own GitRepository): say which of them may
    apply it and that gitbot cannot render it."""
    if not view.external:
        return problems
    out = []
    for problem in problems:
        if not (problem.kind == "Canary" and problem.field == "targetRef.name"
                and problem.message.endswith(NOT_FOUND)):
            out.append(problem)
            continue
        namespace = problem.obj.split("/", 1)[0]
        near = [k for k in view.external if k.target_namespace == namespace] or view.external
        names = ", ".join(f"{k.key} ({k.source})" for k in near)
        start = view.kustomizations[0].kustomization.source if view.kustomizations else None
        out.append(replace(problem, message=(
            f"{problem.message}; skipped Kustomization {names} may apply it, but gitbot renders "
            f"only {start or 'the repository'}: keep the target in this repository")))
    return out


def render_problem(message: str) -> Problem:
    """A DiscoveryError/RenderError as a validate line (`FILE:LINE: Kustomization ns/n: ...`)."""
    match = _WHERE.match(message)
    if match:
        return Problem(match["file"], int(match["line"]), "Kustomization", match["key"], "",
                       match["msg"])
    located = _AT_LINE.match(message)
    if located:  # FILE:LINE: kustomization: field: message (a team kustomization file)
        kind, _, rest = located["msg"].partition(": ")
        if kind == "kustomization" and rest:
            field, _, text = rest.partition(": ")
            return Problem(located["file"], int(located["line"]), kind, "", field, text)
        return Problem(located["file"], int(located["line"]), "", "", "", located["msg"])
    file, _, rest = message.partition(": ")
    field, _, text = rest.partition(": ")
    if file == "config.yaml" and text:
        return Problem(file, 1, "Config", "", field, text)
    return Problem(file if rest else "(flux)", 1, "", "", "", rest or message)


class _Sources:
    """The source document of a rendered object: its line numbers for problems."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, list[Document]] = {}

    def document(self, item: RenderedObject) -> Document:
        data: dict[str, Any] = to_plain(item.obj)
        file = item.origin.file
        source = self._find(file, item) if file else None
        if file is None or source is None:
            line = item.origin.line or 1
            return Document(file or f"(Kustomization {item.origin.kustomization})", 0, data,
                            lambda _at: line)
        return Document(source.path, source.index, data, source.locate)

    def _find(self, file: str, item: RenderedObject) -> Document | None:
        if file not in self._files:
            docs, _problem = read_documents(self.root, self.root / file)
            self._files[file] = docs
        docs = [d for d in self._files[file] if d.data.get("kind") == item.kind]
        named = [d for d in docs if (d.data.get("metadata") or {}).get("name") == item.name]
        at_line = [d for d in docs if item.origin.line and d.locate(()) == item.origin.line]
        for candidates in (named, at_line, docs):
            if candidates:
                return candidates[0]
        return None
