"""Value types for "the repository as Flux sees it": Flux Kustomizations and what they render.

Built by `gitbot.adapters.render.flux.render_repository`; read by whoever needs the effective
objects (the reconciler, `validate`, the simulator) together with each object's origin.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
FLUX_KUSTOMIZE_VERSIONS = ("v1", "v1beta2", "v1beta1")


def is_flux_kustomization(doc: Mapping[str, Any]) -> bool:
    """True for a kustomize.toolkit.fluxcd.io Kustomization (not a kustomize.config.k8s.io one)."""
    api = str(doc.get("apiVersion", ""))
    group, _, version = api.partition("/")
    return (doc.get("kind") == "Kustomization" and group == FLUX_KUSTOMIZE_GROUP
            and version in FLUX_KUSTOMIZE_VERSIONS)


@dataclass(frozen=True)
class SourceRef:
    """The `spec.sourceRef` of a Flux Kustomization (namespace defaulted to the Kustomization's)."""

    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class FluxKustomization:
    """One Flux Kustomization: where it is declared and what it builds.

    `path` is the repository-relative directory it builds ("." for the root); `file`/`line` are
    None for the bootstrap Kustomization gitbot assumes when the repository does not declare it.
    """

    name: str
    namespace: str
    path: str
    source: SourceRef
    spec: Mapping[str, Any]
    file: str | None = None
    line: int | None = None
    # set when read through an ArtifactGenerator's ExternalArtifact (artifacts.py): "ns/name"
    # of the artifact and the repository directories it copies (`path` is then repository-
    # relative, `source` the repository's GitRepository, `spec` unchanged)
    artifact: str | None = None
    copied: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def target_namespace(self) -> str | None:
        value = self.spec.get("targetNamespace")
        return str(value) if value else None

    def where(self) -> str:
        """`FILE:LINE: Kustomization ns/name` for error messages."""
        place = f"{self.file}:{self.line}" if self.file else "(flux bootstrap)"
        return f"{place}: Kustomization {self.key}"


@dataclass(frozen=True)
class Transformer:
    """A kustomize transformer that ran over an object (kustomize does not say if it changed it)."""

    kind: str  # e.g. ImageTagTransformer, PatchTransformer, NamespaceTransformer
    file: str | None  # the repository-relative kustomization file that configured it


@dataclass(frozen=True)
class Origin:
    """Where a rendered object comes from: its Flux Kustomization, source file and line."""

    kustomization: str  # "namespace/name" of the Flux Kustomization that applies it
    file: str | None  # repository-relative file, or the kustomization file of a generator
    line: int | None
    generator: str | None = None  # e.g. ConfigMapGenerator for generated objects
    transformers: tuple[Transformer, ...] = ()

    def where(self) -> str:
        if self.file is None:
            return f"(Kustomization {self.kustomization})"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class RenderedObject:
    """One object exactly as Flux applies it (after kustomize and targetNamespace)."""

    obj: Mapping[str, Any]
    origin: Origin

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        value = self.obj.get("metadata", {}).get("namespace")
        return str(value) if value else None


@dataclass(frozen=True)
class RenderedKustomization:
    """A Flux Kustomization and the objects its build yields."""

    kustomization: FluxKustomization
    objects: tuple[RenderedObject, ...]
    seconds: float = 0.0  # how long kustomize took for it

    def find(self, kind: str, name: str | None = None,
             namespace: str | None = None) -> list[RenderedObject]:
        return [o for o in self.objects if o.kind == kind
                and (name is None or o.name == name)
                and (namespace is None or o.namespace == namespace)]


@dataclass(frozen=True)
class FluxView:
    """The repository as the Flux of one cluster sees it."""

    cluster: str  # repository-relative cluster directory
    kustomizations: tuple[RenderedKustomization, ...]
    external: tuple[FluxKustomization, ...] = field(default=())  # other sources: not rendered
    problems: tuple[str, ...] = field(default=())  # Kustomizations that failed to build
    reasons: tuple[tuple[str, str], ...] = field(default=())  # external key -> why not rendered

    def reason(self, key: str) -> str | None:
        return next((why for k, why in self.reasons if k == key), None)

    def by_name(self, key: str) -> RenderedKustomization:
        for rendered in self.kustomizations:
            if rendered.kustomization.key == key:
                return rendered
        raise KeyError(key)

    def objects(self) -> Iterator[RenderedObject]:
        for rendered in self.kustomizations:
            yield from rendered.objects

    def find(self, kind: str, name: str | None = None,
             namespace: str | None = None) -> list[RenderedObject]:
        return [o for k in self.kustomizations for o in k.find(kind, name, namespace)]
