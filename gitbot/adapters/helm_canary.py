"""One call for a Canary whose target Deployment a Flux HelmRelease renders: `helm_target`.

The entry point the specs loader calls (`gitbot.adapters.helm_specs`, for `validate` and
every pass; the result lives in `FluxSpecs.helm` for `gitbot.adapters.helm_editor`) when a
Canary's `targetRef` Deployment is not in the repository. It resolves the HelmRelease
(`gitbot.adapters.helmrelease`), and for a resolved one computes the revision (chart
version, values, valuesFrom digests), the `<release>-primary` HelmRelease to write at
initialization (`gitbot.core.helm_primary`) and where gitbot's scaling entry goes
(`scale_site`): the file declaring the release when the Canary's own Flux Kustomization owns
it, else the Kustomization's own kustomization file (an overlay over a shared base). `scale`
applies a replicas value there, `point_apex` writes there gitbot's permanent entry pointing the
chart's Service at the primary's pods, `promote` copies chart version and values into the
primary, all with `gitbot.adapters.helm_edit`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitbot.adapters import helm_edit, safefs
from gitbot.adapters.helmrelease import (
    Candidate,
    Resolution,
    config_map_values,
    release_candidates,
    resolve,
    values_from_digests,
)
from gitbot.adapters.render import FluxView
from gitbot.adapters.render.kustomize import kustomization_file
from gitbot.adapters.yamlio import YamlFile
from gitbot.core.helm import get_path, metadata_key
from gitbot.core.helm_apex import APEX_OVERLAY_MARKER, apex_overlay_ops
from gitbot.core.helm_notes import release_notes
from gitbot.core.helm_primary import (
    Promotion,
    plan_values_from,
    primary_release,
    promotion,
    release_revision,
)
from gitbot.core.helm_scale import OVERLAY_MARKER, overlay_patch_ops, values_patch_ops
from gitbot.errors import InvalidInputError

_VALUE_KINDS = ("ConfigMap", "Secret")


@dataclass(frozen=True)
class ScaleSite:
    """Where gitbot's scaling entry is written: `release` file or `overlay` kustomization."""

    kind: str  # "release" or "overlay"
    file: str  # repository-relative


@dataclass(frozen=True)
class HelmTarget:
    """A resolved HelmRelease target: what the rollout paths need."""

    resolution: Resolution
    revision: str  # changes with chart version, values, valuesFrom content
    primary: dict[str, Any]  # the `<release>-primary` HelmRelease (plain data)
    promotion: Promotion  # chart version and values promote() copies into the primary
    site: ScaleSite
    notes: tuple[str, ...] = ()  # e.g. a valuesFrom Secret shared with the primary

    @property
    def release(self) -> Candidate:
        assert self.resolution.release is not None
        return self.resolution.release


def helm_target(root: Path, view: FluxView | None, canary: str, target: tuple[str, str],
                annotations: Mapping[str, str], kustomization: str | None = None,
                replicas: Any = None) -> HelmTarget | Resolution:
    """The HelmTarget of Canary `canary` ("ns/name") with target (namespace, name), or the
    failed Resolution (`describe()` says why). `replicas`: the team's own value at the
    Canary's replicas values path, recorded before gitbot scaled the canary; by default the
    rendered release's value there unless it is gitbot's 0 (the canary is scaled up during a
    run, so promotion copies the team's value)."""
    found = resolve(canary, target, annotations, release_candidates(root, view), kustomization)
    if found.release is None:
        return found
    release = found.release.release
    objects = _value_objects(root, view, found.release.kustomization)
    plan = plan_values_from(release, config_map_values(release, objects))
    options = found.options
    if replicas is None and options.replicas_path is not None:
        current = get_path((release.get("spec") or {}).get("values"), options.replicas_path)
        replicas = current if current != 0 else None
    args = (release, target[1], options.name_path, options.replicas_path, replicas, plan)
    return HelmTarget(
        resolution=found,
        revision=release_revision(release, values_from_digests(release, objects),
                                  options.replicas_path),
        primary=primary_release(*args),
        promotion=promotion(*args),
        site=scale_site(root, view, found.release),
        notes=((plan.note,) if plan.note else ()) + release_notes(release),
    )


def _value_objects(root: Path, view: FluxView | None,
                   kustomization: str | None) -> list[Mapping[str, Any]]:
    if view is not None:
        return [o.obj for o in view.objects() if o.kind in _VALUE_KINDS
                and (kustomization is None or o.origin.kustomization == kustomization)]
    found: list[Mapping[str, Any]] = []
    for rel in safefs.repo_files(root, (".yaml", ".yml"), skip_hidden=True):
        try:
            docs = [d.data for d in YamlFile.read(root, rel).documents]
        except InvalidInputError:
            continue  # unreadable or template files: reported by the specs loader
        found += [d for d in docs if isinstance(d, Mapping) and d.get("kind") in _VALUE_KINDS]
    return found


def scale_site(root: Path, view: FluxView | None, release: Candidate) -> ScaleSite:
    """The release's own file when it lies under its Flux Kustomization's path; else that
    Kustomization's kustomization file (the release comes from a base others may share)."""
    if view is None or release.kustomization is None or release.file is None:
        return ScaleSite("release", release.file or "")
    home = view.by_name(release.kustomization).kustomization.path
    if home == "." or release.file.startswith(home + "/"):
        return ScaleSite("release", release.file)
    found = kustomization_file(root / home)
    if found is None:
        raise InvalidInputError(f"{release.where()}: declared outside {home}, which has no "
                                "kustomization file to scale the canary from")
    return ScaleSite("overlay", posixpath.join(home, found.name))


def scale(root: Path, found: HelmTarget, target: str, replicas: int | None,
          after_apex: bool = False) -> bool:
    """Set (or with None remove) gitbot's scaling of the canary Deployment `target`
    (`after_apex`: gitbot's apex item precedes it in the overlay, see `point_apex`)."""
    release = found.release
    options = found.resolution.options
    name = metadata_key(release.release)[1]
    path = options.replicas_path
    if found.site.kind == "release":
        if path is not None:
            return helm_edit.set_values_path(root, found.site.file, name, path, replicas)
        return helm_edit.set_canary_replicas(root, found.site.file, name, target, replicas)
    text = None
    if replicas is not None:
        ops = (values_patch_ops(release.release, path, replicas) if path is not None
               else overlay_patch_ops(release.release, target, replicas, after_apex))
        text = helm_edit.overlay_text(ops)
    return helm_edit.set_overlay_replicas(root, found.site.file, release.key, text)


def point_apex(root: Path, found: HelmTarget, service: str,
               selector: Mapping[str, str]) -> bool:
    """Write gitbot's permanent apex entry (the chart's Service `service` selects `selector`,
    the primary's pods) where the scaling goes; from an overlay its item precedes the
    scaling item, which then appends to the list. False when already there."""
    release = found.release
    if found.site.kind == "release":
        return helm_edit.set_apex_selector(root, found.site.file, metadata_key(release.release)[1],
                                           service, selector)
    text = helm_edit.overlay_text(apex_overlay_ops(release.release, service, selector),
                                  APEX_OVERLAY_MARKER)
    return helm_edit.set_overlay_item(root, found.site.file, release.key, APEX_OVERLAY_MARKER,
                                      text, before=OVERLAY_MARKER)


def promote(root: Path, found: HelmTarget, primary_file: str) -> bool:
    """Copy the release's chart version and values into `<release>-primary` (file
    `primary_file`, as written at initialization) in one minimal edit; False when equal."""
    return helm_edit.promote(root, primary_file, found.primary["metadata"]["name"],
                             found.promotion)
