"""Load every Flagger `Canary`, `MetricTemplate` and `AlertProvider` from a GitOps checkout.

`load_repository(root)` walks the repository's YAML files with ruamel.yaml (round-trip, for line
numbers), hands each `flagger.app` document to the pure `gitbot.core.parse.parse_document`, runs
the checks that need the whole repository (template and provider references, target
Deployments, duplicate canaries) and returns a `SpecSet`: the valid objects plus every problem.
Called by the reconciler on each sync and by `gitbot validate` (with `format_problems`).
Files and their located documents come from `gitbot.adapters.spec_documents`: a file that is
refused (symlink out, FIFO, too big) or over a budget becomes one Problem at its line and costs
only its own documents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gitbot.adapters.spec_documents import (
    Document,
    kustomization_namespace,
    read_documents,
    yaml_files,
)
from gitbot.core.parse import is_flagger, parse_document
from gitbot.core.parse_fields import FieldPath
from gitbot.core.problems import Problem
from gitbot.core.spec import AlertProvider, Canary, MetricTemplate, ObjectRef

if TYPE_CHECKING:
    from gitbot.adapters.flux_specs import FluxSpecs
    from gitbot.adapters.render.cache import RenderCache


@dataclass(frozen=True)
class SpecSet:
    """What a repository declares: valid objects (invalid ones left out) and all problems."""

    canaries: tuple[Canary, ...] = ()
    templates: tuple[MetricTemplate, ...] = ()
    providers: tuple[AlertProvider, ...] = ()
    problems: tuple[Problem, ...] = ()
    flux: FluxSpecs | None = dataclasses.field(default=None, compare=False)  # rendered view

    @property
    def ok(self) -> bool:
        return not self.problems

    def canary(self, key: str) -> Canary | None:
        """The canary named `namespace/name` (or just `name` when that is unique)."""
        found = [c for c in self.canaries if key in (c.key, c.name)]
        return found[0] if len(found) == 1 else None

    def template(self, ref: ObjectRef) -> MetricTemplate | None:
        return next((t for t in self.templates if (t.namespace, t.name) == _ns_name(ref)), None)

    def provider(self, ref: ObjectRef) -> AlertProvider | None:
        return next((p for p in self.providers if (p.namespace, p.name) == _ns_name(ref)), None)


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem, sorted by file and line (empty string when there are none)."""
    ordered = sorted(problems, key=lambda p: (p.path, p.line, str(p)))
    return "\n".join(str(p) for p in ordered)


class SpecCache(Protocol):
    """Remembers what files parse to between loads (`gitbot.adapters.repo_index.RepoIndex`)."""

    def documents(self, root: Path, path: Path) -> tuple[list[Document], Problem | None]: ...

    def kustomization_namespace(self, root: Path, directory: Path) -> str: ...

    def yaml_files(self, root: Path) -> Iterable[Path]: ...

    def plain(self) -> bool:
        """True when the repository is known to hold no Flux object (no render needed)."""
        ...

    @property
    def renders(self) -> RenderCache:
        """The Kustomization builds kept between loads (only changed inputs are built)."""
        ...


def load_repository(root: Path, *, no_cross_namespace_refs: bool = False,
                    cluster: str | None = None, cache: SpecCache | None = None,
                    remote_bases: bool = False) -> SpecSet:
    """Load and validate every Flagger document under `root` (see the module docstring);
    `no_cross_namespace_refs` is the config's `security.noCrossNamespaceRefs`; with `cache`,
    loose files are parsed through it (only those changed since the last load are read);
    `remote_bases` is `security.remoteBases` (Flux repositories: fetch https remote bases).

    A repository with Flux Kustomizations is read as Flux renders it for `cluster` (the
    config's `flux.cluster`; see `gitbot.adapters.flux_specs`); a plain one file by file.
    """
    from gitbot.adapters.flux_specs import load_flux_specs  # they build on this module
    from gitbot.adapters.helm_specs import explain_plain

    if cluster or cache is None or not cache.plain():
        rendered = load_flux_specs(root, cluster, no_cross_namespace_refs,
                                   cache.renders if cache else None, remote_bases=remote_bases)
        if rendered is not None:
            return rendered
    problems: list[Problem] = []
    documents: list[Document] = []
    for path in cache.yaml_files(root) if cache else yaml_files(root):
        found, problem = cache.documents(root, path) if cache else read_documents(root, path)
        documents.extend(found)
        problems.extend([problem] if problem else [])
    namespaces = _Namespaces(root, cache.kustomization_namespace if cache else None)
    parsed = _parse_all(documents, namespaces, problems)
    deployments = _deployments(documents, namespaces)
    canaries = checked_canaries(parsed, deployments, problems, no_cross_namespace_refs)
    problems = explain_plain(root, parsed, problems)  # a target a HelmRelease file renders
    templates = tuple(obj for obj, _ in parsed if isinstance(obj, MetricTemplate))
    providers = tuple(obj for obj, _ in parsed if isinstance(obj, AlertProvider))
    return SpecSet(canaries, templates, providers, tuple(problems))


class _Namespaces:
    """The namespace of a document: its own, else its directory's kustomization, else default."""

    def __init__(self, root: Path, lookup: Callable[[Path, Path], str] | None = None) -> None:
        self._root = root
        self._by_dir: dict[str, str] = {}
        self._lookup = lookup or kustomization_namespace

    def of(self, doc: Document) -> str:
        meta = doc.data.get("metadata")
        own = meta.get("namespace") if isinstance(meta, dict) else None
        if isinstance(own, str) and own:
            return own
        directory = str(Path(doc.path).parent)
        if directory not in self._by_dir:
            self._by_dir[directory] = self._lookup(self._root, self._root / directory)
        return self._by_dir[directory] or "default"


Entry = tuple[Canary | MetricTemplate | AlertProvider, Document]


def _parse_all(
    docs: list[Document], namespaces: _Namespaces, problems: list[Problem]
) -> list[Entry]:
    parsed: list[Entry] = []
    for doc in docs:
        if not is_flagger(doc.data):
            continue
        obj, found = parse_document(doc.data, doc.locate, doc.path, namespaces.of(doc), doc.index)
        problems.extend(found)
        if obj is not None:
            parsed.append((obj, doc))
    return parsed


def _deployments(docs: list[Document], namespaces: _Namespaces) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for doc in docs:
        if doc.data.get("apiVersion") == "apps/v1" and doc.data.get("kind") == "Deployment":
            meta = doc.data.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            if isinstance(name, str):
                found.add((namespaces.of(doc), name))
    return found


def checked_canaries(
    parsed: list[Entry],
    deployments: set[tuple[str, str]],
    problems: list[Problem],
    no_cross_namespace_refs: bool = False,
) -> tuple[Canary, ...]:
    templates = {(o.namespace, o.name) for o, _ in parsed if isinstance(o, MetricTemplate)}
    providers = {(o.namespace, o.name) for o, _ in parsed if isinstance(o, AlertProvider)}
    claimed: dict[tuple[str, str], tuple[Canary, Document]] = {}
    names: dict[str, Document] = {}
    valid: list[Canary] = []
    for obj, doc in parsed:
        if not isinstance(obj, Canary):
            continue
        check = _CanaryCheck(obj, doc)
        check.references(templates, providers, no_cross_namespace_refs)
        check.target(deployments, claimed)
        check.unique_name(names)
        problems.extend(check.problems)
        if not check.problems:
            valid.append(obj)
    return tuple(valid)


@dataclass
class _CanaryCheck:
    """The repository-level checks of one parsed canary."""

    canary: Canary
    doc: Document

    def __post_init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, at: FieldPath, field: str, message: str) -> None:
        line = self.doc.locate(("spec", *at))
        problem = Problem(self.doc.path, line, "Canary", self.canary.key, field, message)
        self.problems.append(problem)

    def references(
        self,
        templates: set[tuple[str, str]],
        providers: set[tuple[str, str]],
        no_cross_namespace_refs: bool = False,
    ) -> None:
        """Every templateRef and providerRef names an object of the repository and, with
        `security.noCrossNamespaceRefs` (Flagger's `-no-cross-namespace-refs`), one in the
        canary's own namespace."""
        refs = [(("metrics", i, "templateRef"), "MetricTemplate", m.template_ref, templates)
                for i, m in enumerate(self.canary.analysis.metrics) if m.template_ref]
        refs += [(("alerts", i, "providerRef"), "AlertProvider", a.provider_ref, providers)
                 for i, a in enumerate(self.canary.analysis.alerts)]
        for (key, i, field), kind, ref, known in refs:
            at, where = ("analysis", key, i, field), f"analysis.{key}[{i}].{field}"
            if no_cross_namespace_refs and ref.namespace != self.canary.namespace:
                self.add((*at, "namespace"), f"{where}.namespace", f"{kind} {ref.namespace}/"
                         f"{ref.name} is in another namespace than the canary, and "
                         "security.noCrossNamespaceRefs forbids cross-namespace references")
            elif _ns_name(ref) not in known:
                self.add(at, where, f"{kind} {ref.namespace}/{ref.name} not found in the "
                         "repository")

    def target(
        self,
        deployments: set[tuple[str, str]],
        claimed: dict[tuple[str, str], tuple[Canary, Document]],
    ) -> None:
        target = (self.canary.namespace, self.canary.target.name)
        where = f"Deployment {target[0]}/{target[1]}"
        if target not in deployments:
            self.add(("targetRef", "name"), "targetRef.name",
                     f"{where} not found in the repository")
        if target in claimed:
            other, doc = claimed[target]
            line = doc.locate(())
            self.add(("targetRef",), "targetRef", f"duplicate canary for target {where}, also "
                     f"targeted by {other.key} at {doc.path}:{line}")
        else:
            claimed[target] = (self.canary, self.doc)

    def unique_name(self, names: dict[str, Document]) -> None:
        first = names.setdefault(self.canary.key, self.doc)
        if first is not self.doc:
            self.problems.append(Problem(
                self.doc.path, self.doc.locate(("metadata", "name")), "Canary", self.canary.key,
                "metadata.name", f"duplicate Canary, also defined at {first.path}:"
                f"{first.locate(())}"))


def _ns_name(ref: ObjectRef) -> tuple[str, str]:
    return ref.namespace, ref.name

