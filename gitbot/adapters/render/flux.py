"""The repository as Flux sees it: render every Flux Kustomization of the served cluster.

`render_repository(root, cluster)` copies what source-controller would package (ignore rules),
refuses kustomization entries naming files outside that copy and YAML bombs (`confine`),
starts from the cluster's bootstrap Kustomization, renders it with kustomize, and follows every
Flux Kustomization found in the rendered output that uses the same source (recursively, as
kustomize-controller applies them); one whose ExternalArtifact is a relocated subtree of the
repository (`artifacts`) is rendered from its repository path; Kustomizations of other sources
are listed as external (with the reason for an ExternalArtifact).
One that fails to build is a problem of the view (`FluxView.problems`), not of the others.
Returns None for a plain repository (no Flux Kustomization): callers keep reading loose files.
With a `RenderCache` (cache.py), a Kustomization whose inputs did not change since a previous
render is not built again, and the copy is the cache's (`mirror`): for a tracked working tree
only the files that changed since the last render are read, copied and checked again.
Called by `flux_specs.load_flux_specs`, `flux_verify` and tests.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from gitbot.adapters.render import artifacts, confine, discovery, kustomize, remote, substitute
from gitbot.adapters.render.cache import RenderCache
from gitbot.adapters.render.discovery import FluxFiles
from gitbot.adapters.render.mirror import Mirror
from gitbot.adapters.render.model import (
    FluxKustomization,
    FluxView,
    RenderedKustomization,
    RenderedObject,
    is_flux_kustomization,
)
from gitbot.adapters.render.origins import OriginFinder
from gitbot.errors import InvalidInputError

DEFAULT_TIMEOUT = 60.0


def render_repository(root: Path, cluster: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT,
                      cache: RenderCache | None = None,
                      remote_bases: bool = False) -> FluxView | None:
    """Render the served cluster's Flux Kustomizations; None for a plain repository.

    With `cache`, unchanged Kustomizations are taken from it (and new builds kept in it).
    `remote_bases` is the config's `security.remoteBases`: without it a Kustomization whose
    build would fetch anything over the network is not built (`remote.check`).
    Raises DiscoveryError (layout, `flux.cluster`) or RenderError (kustomize failed/timed out).
    """
    if cache is None:
        mirror = Mirror(None, FluxFiles(), {})
        try:
            with mirror.session(root):
                return _render(root, cluster, timeout, None, mirror, remote_bases)
        finally:
            mirror.close()
    with cache.mirror.session(root) as mirror:
        return _render(root, cluster, timeout, cache, mirror, remote_bases)


def _render(root: Path, cluster: str | None, timeout: float, cache: RenderCache | None,
            mirror: Mirror, remote_bases: bool) -> FluxView | None:
    found = mirror.scan(root)
    chosen = discovery.choose_cluster(root, found, cluster)
    if chosen is None:
        return None
    start = discovery.root_kustomization(found, chosen)
    source = found.git_repositories.get((start.source.namespace, start.source.name)) or {}
    ignore_spec = (source.get("spec") or {}).get("ignore")
    # the copy updated; nothing read outside it, no bomb
    artifact, refused = mirror.artifact(root, str(ignore_spec) if ignore_spec else None)
    if cache is not None:
        cache.begin(artifact, mirror.digests)
    try:
        view = _walk(artifact, chosen, start, timeout, cache, remote_bases)
    except InvalidInputError as err:
        if refused:  # the bootstrap Kustomization read a refused file: say why
            raise kustomize.RenderError("; ".join(refused)) from err
        raise
    finally:
        if cache is not None:
            cache.release(artifact)
    return replace(view, problems=(*refused, *view.problems))


def _walk(artifact: Path, cluster: str, start: FluxKustomization, timeout: float,
          cache: RenderCache | None, remote_bases: bool) -> FluxView:
    """Render `start` and every same-source Kustomization it leads to (through `cache`).

    A Kustomization other than `start` that fails to build (or to parse) costs only its own
    objects, as kustomize-controller fails only that Kustomization: its error is kept in
    `FluxView.problems` and the others are rendered. `start` failing raises.
    """
    finder = OriginFinder(artifact)
    queue: deque[FluxKustomization] = deque([start])
    seen = {start.key}
    rendered: list[RenderedKustomization] = []
    external: list[FluxKustomization] = []
    pending: list[FluxKustomization] = []  # ExternalArtifact sources: resolved at the end
    reasons: list[tuple[str, str]] = []
    problems: list[str] = []
    while queue or pending:
        if not queue:  # every generator that can be rendered is: resolve the artifacts
            queue.extend(_resolve(pending, rendered, start, external, reasons))
            pending = []
            continue
        current = queue.popleft()
        try:
            result = render_one(artifact, current, finder, timeout, rendered, cache,
                                remote_bases=remote_bases)
        except InvalidInputError as err:  # RenderError, DiscoveryError
            if current is start:
                raise
            problems.append(str(err))
            continue
        refused = artifacts.outside(current, result.objects, artifact)
        if refused:
            problems.append(refused)
            continue
        rendered.append(result)
        for child in _children(result, problems):
            if child.key in seen:
                continue
            seen.add(child.key)
            if child.source == start.source:
                queue.append(child)
            elif child.source.kind == artifacts.ARTIFACT_KIND:
                pending.append(child)
            else:
                external.append(child)
    return FluxView(cluster, tuple(rendered), tuple(external), tuple(problems), tuple(reasons))


def _resolve(pending: list[FluxKustomization], rendered: list[RenderedKustomization],
             start: FluxKustomization, external: list[FluxKustomization],
             reasons: list[tuple[str, str]]) -> list[FluxKustomization]:
    """The pending ExternalArtifact Kustomizations read from the repository; the others go to
    `external` with the reason."""
    objects = [o for r in rendered for o in r.objects]
    resolved = []
    for child in pending:
        try:
            resolved.append(artifacts.resolve(child, objects, start.source))
        except artifacts.Refused as why:
            external.append(child)
            reasons.append((child.key, str(why)))
    return resolved


def _children(result: RenderedKustomization, problems: list[str]) -> list[FluxKustomization]:
    children = []
    for item in result.objects:
        if is_flux_kustomization(item.obj):
            try:
                children.append(discovery.parse_kustomization(item.obj, item.origin.file,
                                                              item.origin.line))
            except InvalidInputError as err:  # DiscoveryError: only that one is lost
                problems.append(str(err))
    return children


def render_one(artifact: Path, kustomization: FluxKustomization, finder: OriginFinder,
               timeout: float, before: Sequence[RenderedKustomization] = (),
               cache: RenderCache | None = None, *,
               remote_bases: bool = False) -> RenderedKustomization:
    """Build one Flux Kustomization in the artifact copy; its objects with their origins.

    A build that would fetch a remote base gitbot does not fetch (`remote.check`; all of them
    unless `remote_bases`) raises RenderError before the cache or kubectl is asked.
    `postBuild` variables come from the ConfigMaps rendered `before` it (applied first by the
    cluster's Flux) or by itself (substituted on every render, the build itself cached).
    """
    confine.check_document({"components": kustomization.spec.get("components")},
                           kustomization.file or "", kustomization.path,
                           f"{kustomization.where()}: spec")

    def check() -> bool:  # refused (raises) or fetches: then built at every render
        return remote.check(artifact, kustomization, remote_bases)

    def run() -> tuple[tuple[RenderedObject, ...], float]:
        return _build(artifact, kustomization, finder, timeout)

    if cache is None:
        check()
    built, seconds = (cache.build(artifact, kustomization, run, check) if cache is not None
                      else run())
    objects = list(built)
    if kustomization.spec.get("postBuild"):
        pool = [o for r in before for o in r.objects] + objects
        values = substitute.variables(kustomization, pool)
        objects = [RenderedObject(substitute.substitute(o.obj, values, _where(kustomization, o)),
                                  o.origin) for o in objects]
    return RenderedKustomization(kustomization, tuple(objects), seconds)


def _build(artifact: Path, kustomization: FluxKustomization, finder: OriginFinder,
           timeout: float) -> tuple[tuple[RenderedObject, ...], float]:
    """kustomize build of one Flux Kustomization: its objects (origins found) and seconds."""
    began = time.monotonic()
    with kustomize.prepared(artifact, kustomization) as (directory, keep):
        docs = kustomize.build(directory, artifact, kustomization, timeout)
    seconds = time.monotonic() - began
    objects = []
    for doc in docs:
        plain, origin = finder.split(doc, kustomization.path, kustomization.key, keep)
        objects.append(RenderedObject(plain, origin))
    return tuple(objects), seconds


def _where(kustomization: FluxKustomization, obj: RenderedObject) -> str:
    return f"{obj.origin.where()}: {obj.kind} {obj.name} ({kustomization.where()})"
