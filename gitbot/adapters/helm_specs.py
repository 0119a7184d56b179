"""The specs loader's HelmRelease step: canaries whose target Deployment a HelmRelease renders.

Called by `gitbot.adapters.flux_specs.load_flux_specs` after parsing the rendered Flagger
objects: every Canary whose `targetRef` Deployment no Flux Kustomization renders is looked up
among the rendered HelmReleases of its own Flux Kustomization (`gitbot.adapters.helm_canary`).
A resolved canary gets its `HelmTarget` (revision, primary release, scale site) and counts as
having a target; one that names a release (annotation) or lives beside HelmReleases but cannot
be resolved gets a problem saying why, at the Canary's `FILE:LINE`. `describe` gives the lines
`gitbot validate` prints for the resolved ones. `explain_plain` (called by
`gitbot.adapters.specs.load_repository` for a repository without Flux Kustomizations) says
when a missing target is a HelmRelease's: gitbot handles those only in a Flux layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitbot.adapters.helm_canary import HelmTarget, helm_target
from gitbot.adapters.helmrelease import Candidate, Resolution, release_candidates, resolve
from gitbot.adapters.render import FluxView
from gitbot.adapters.spec_documents import Document
from gitbot.adapters.specs import Entry
from gitbot.core.helm import ANNOTATION_RELEASE, chart_name, is_helm_release
from gitbot.core.problems import Problem
from gitbot.core.spec import Canary
from gitbot.errors import InvalidInputError

NOT_FOUND = "not found in the repository"


@dataclass
class HelmTargets:
    """The canaries resolved to a HelmRelease, and why the others could not be."""

    resolved: dict[str, HelmTarget] = field(default_factory=dict)
    failed: dict[str, Problem] = field(default_factory=dict)

    def deployments(self, canaries: Iterable[Canary]) -> set[tuple[str, str]]:
        """(namespace, target) of the resolved canaries: they have a target."""
        return {(c.namespace, c.target.name) for c in canaries if c.key in self.resolved}

    def explain(self, problems: list[Problem]) -> list[Problem]:
        """`problems` with each failed canary's "not found" replaced by why no release fits."""
        out = []
        for problem in problems:
            better = self.failed.get(problem.obj)
            if (better is not None and problem.kind == "Canary"
                    and problem.field == "targetRef.name" and problem.message.endswith(NOT_FOUND)):
                out.append(better)
            else:
                out.append(problem)
        return out


def canary_annotations(doc: Document) -> dict[str, str]:
    meta = doc.data.get("metadata")
    found = meta.get("annotations") if isinstance(meta, Mapping) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, Mapping) else {}


def resolve_targets(root: Path, view: FluxView, parsed: list[Entry], owners: Mapping[int, str],
                    deployments: set[tuple[str, str]]) -> HelmTargets:
    """Resolve every parsed Canary whose target is not a rendered Deployment."""
    found = HelmTargets()
    has_releases = any(is_helm_release(o.obj) for o in view.objects())
    for obj, doc in parsed:
        if not isinstance(obj, Canary) or (obj.namespace, obj.target.name) in deployments:
            continue
        notes = canary_annotations(doc)
        if not has_releases and ANNOTATION_RELEASE not in notes:
            continue  # no HelmRelease anywhere: the plain "not found" says it all
        result = _target(root, view, obj, notes, owners[id(obj)])
        if isinstance(result, HelmTarget):
            found.resolved[obj.key] = result
        else:
            found.failed[obj.key] = _problem(obj, doc, result)
    return found


def _target(root: Path, view: FluxView, canary: Canary, notes: Mapping[str, str],
            kustomization: str) -> HelmTarget | Resolution | str:
    try:
        return helm_target(root, view, canary.key, (canary.namespace, canary.target.name), notes,
                           kustomization)
    except InvalidInputError as err:  # e.g. no kustomization file to scale the canary from
        return str(err)


def _problem(canary: Canary, doc: Document, why: Resolution | str) -> Problem:
    text = why.error if isinstance(why, Resolution) else why
    if text.startswith("metadata.annotations."):
        field_name, _, message = text.partition(": ")
        return Problem(doc.path, doc.locate(("metadata", "annotations")), "Canary", canary.key,
                       field_name, message)
    return Problem(doc.path, doc.locate(("spec", "targetRef", "name")), "Canary", canary.key,
                   "targetRef.name", text)


def describe(resolved: Mapping[str, HelmTarget]) -> list[str]:
    """One line per resolved canary (and its notes), sorted, for `gitbot validate`."""
    lines: list[str] = []
    for key in sorted(resolved):
        target: Any = resolved[key]
        lines.append(target.resolution.describe())
        lines += [f"Canary {key}: {note}" for note in target.notes]
    return lines


def explain_plain(root: Path, parsed: list[Entry], problems: list[Problem]) -> list[Problem]:
    """A plain repository: each "not found" target that a HelmRelease file renders (or that
    an annotation names) gets a problem saying so; Helm targets need a Flux layout."""
    missing = {p.obj for p in problems if p.kind == "Canary" and p.field == "targetRef.name"
               and p.message.endswith(NOT_FOUND)}
    if not missing:
        return problems
    candidates = _declared(release_candidates(root, None))
    found = HelmTargets()
    for obj, doc in parsed:
        if not isinstance(obj, Canary) or obj.key not in missing:
            continue
        notes = canary_annotations(doc)
        if not candidates and ANNOTATION_RELEASE not in notes:
            continue
        result = resolve(obj.key, (obj.namespace, obj.target.name), notes, candidates)
        if result.release is not None:
            result = Resolution(obj.key, error=(
                f"Deployment {obj.namespace}/{obj.target.name} is rendered by "
                f"{result.release.where()}, but gitbot handles HelmRelease targets only in a "
                "repository with Flux Kustomizations (set flux.cluster; README \"Helm\")"))
        found.failed[obj.key] = _problem(obj, doc, result)
    return found.explain(problems)


def _declared(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per release: loose files also hold kustomize patches of a release (same
    name, no chart), which are not releases of their own."""
    by_key: dict[tuple[str, str], Candidate] = {}
    for found in candidates:
        if found.key not in by_key or (chart_name(found.release)
                                       and not chart_name(by_key[found.key].release)):
            by_key[found.key] = found
    return list(by_key.values())
