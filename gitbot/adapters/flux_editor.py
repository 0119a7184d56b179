"""The manifest editor for Flux repositories: writes where the result stays true, then verifies.

`FluxEditor` (a `ManifestEditor`) is what the reconciler edits with when the repository has Flux
Kustomizations (`editor_for`). It differs from the plain editor in where it reads and writes:

- bootstrap generates the primary from the *effective* target (as Flux renders it: images,
  patches, namespace) into gitbot's own directory with its own Flux Kustomization
  (`gitbot.adapters.flux_layout`), so the team's transformers never reach the primary;
  `bootstrap_primary` is the first stage of a staged initialization (the primary alone);
- promotion copies the rendered target's template (configs, HPA) into that primary;
- with an HPA, a scaled-up target carries no `replicas` (the HPA owns the field);
- a change to a team object (the target's replicas, the apex Service's selector) is made in the
  object's source file when only this Flux Kustomization uses it, else as a `spec.patches`
  entry of that Flux Kustomization (`gitbot.adapters.flux_placement`);
- `save()` renders the cluster again and checks that what Flux would apply is exactly what was
  decided (replicas, primary template, weights); on a mismatch it raises `OverriddenError`
  naming the transformer (file:line), and the caller commits nothing. The render goes through
  the pass' `RenderCache` (`FluxSpecs.cache`): only the Kustomizations the edit changed are
  built again, and the next pass finds this tree's builds in the cache.

gitbot's own kustomization.yaml, Flux Kustomization and `.sourceignore` line are written by
`gitbot.adapters.flux_own_files`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from gitbot.adapters import bootstrap as generator
from gitbot.adapters import flux_configs as configs
from gitbot.adapters import flux_layout as layout
from gitbot.adapters import flux_routing
from gitbot.adapters.flux_own_files import (
    declare_own_kustomization,
    register_files,
    unignore_own_directory,
)
from gitbot.adapters.flux_placement import built_elsewhere, is_shared, set_effective
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.flux_verify import Check, verify
from gitbot.adapters.manifest_merge import Changes, merge_mapping, plain
from gitbot.adapters.manifest_types import (
    FieldChange,
    ManifestNotFoundError,
    selector_label,
)
from gitbot.adapters.manifests import PROMOTED_SPEC_FIELDS, ManifestEditor, primary_template, record
from gitbot.adapters.render import RenderedObject
from gitbot.adapters.safefs import new_file
from gitbot.adapters.yamlio import YamlFile
from gitbot.core.configrefs import primary_pod_template
from gitbot.core.routes import read_traffic
from gitbot.core.spec import Canary
from gitbot.core.state import Traffic
from gitbot.errors import InvalidInputError

Obj = dict[str, Any]


def editor_for(root: Path, flux: FluxSpecs | None, canary: Canary | None = None
               ) -> ManifestEditor:
    """The editor for a checkout: a FluxEditor when the SpecSet came from a Flux view (a
    HelmEditor for a canary whose target a HelmRelease renders)."""
    if flux is None:
        return ManifestEditor(root)
    if canary is not None and flux.helm_target(canary) is not None:
        from gitbot.adapters.helm_editor import HelmEditor  # it builds on FluxEditor

        return HelmEditor(root, flux, canary)
    return FluxEditor(root, flux)


class FluxEditor(ManifestEditor):
    """Edits a Flux repository as described in the module docstring."""

    def __init__(self, root: Path, flux: FluxSpecs) -> None:
        super().__init__(root)
        self.index = layout.ClusterIndex(root, layout.cluster_directory(flux.view.cluster))
        self.flux = flux
        self.checks: list[Check] = []
        self.direct: list[str] = []  # files edited outside the index (written at once)

    # -- the effective target -------------------------------------------------------------
    def rendered_target(self, canary: Canary) -> RenderedObject:
        found = self.flux.target(canary)
        if found is None:
            raise ManifestNotFoundError(
                f"Deployment {canary.namespace}/{canary.target.name} is not rendered by any Flux "
                f"Kustomization of {self.flux.view.cluster} (targetRef of Canary {canary.key})")
        return found

    def target_data(self, canary: Canary) -> tuple[Obj, str, str]:
        target = self.rendered_target(canary)
        data: Obj = copy.deepcopy(plain(target.obj))
        subject = f"{target.origin.where()}: Deployment {canary.namespace}/{target.name}"
        label, value = selector_label(data, subject)
        return data, label, value

    def _exists(self, kind: str, namespace: str, name: str) -> bool:
        if self.flux.view.find(kind, name, namespace):
            return True
        entry = self.index.find(kind, namespace, name)
        return entry is not None and layout.is_owned(entry.file.rel)

    # -- bootstrap ------------------------------------------------------------------------
    def bootstrap_primary(self, canary: Canary) -> list[FieldChange]:
        """Staged initialization, first commit: the primary (its HPA, config copies) alone."""
        return self.bootstrap(canary, only_primary=True)

    def bootstrap(self, canary: Canary, only_primary: bool = False) -> list[FieldChange]:
        """Generate the missing objects in gitbot's directory, from the effective target."""
        data, label, value = self.target_data(canary)
        team = self.flux.rendered(canary).kustomization
        cluster = self.flux.view.cluster
        folder = layout.own_directory(cluster, team)
        changes: list[FieldChange] = []
        created: list[str] = []
        tracked = configs.tracked(self.flux, self.rendered_target(canary))
        groups = self._groups(canary, data, label, value, tracked)
        if only_primary:
            groups = {k: v for k, v in groups.items() if k.endswith("-primary.yaml")}
        for name, objs in groups.items():
            rel = new_file(self.root, folder, name, f"Canary {canary.key}")
            self.index.add_file(YamlFile.create(self.root, rel, generator.render_file(canary,
                                                                                      objs)))
            created.append(name)
            changes += [FieldChange(rel, o["kind"], canary.namespace, o["metadata"]["name"], "",
                                    None, o) for o in objs]
        if created and tracked:
            changes += configs.write(self.index, canary, f"{folder}/{configs.file_name(canary)}",
                                     tracked)
            created.append(configs.file_name(canary))
        if created:
            changes += register_files(self.index, self.root, canary, folder, created)
            changes += declare_own_kustomization(self.index, self.root, canary, cluster, team)
            changes += unignore_own_directory(self.root, folder, self.direct)
        if only_primary:
            self._check_primary(canary)
            return changes
        changes += self._adopt_service(canary, label, value)
        if self._team_virtual_service(canary) is not None and self.get_traffic(canary) is None:
            changes += self.set_traffic(canary, Traffic())  # adopt the team's own routes
        self._check_primary(canary)
        return changes

    def _groups(self, canary: Canary, data: Obj, label: str, value: str,
                tracked: dict[Any, Obj]) -> dict[str, list[Obj]]:
        ns, svc = canary.namespace, canary.service_name
        primary = [generator.primary_deployment(data, label, value, ns,
                                                configs.payloads(tracked))]
        if canary.autoscaler is not None:  # the HPA owns replicas: Flux must not re-apply one
            primary[0]["spec"].pop("replicas", None)
        if canary.autoscaler is not None:
            hpa = self.flux.view.find("HorizontalPodAutoscaler", canary.autoscaler.name, ns)
            if not hpa:
                raise ManifestNotFoundError(
                    f"HorizontalPodAutoscaler {ns}/{canary.autoscaler.name} is not rendered by "
                    f"any Flux Kustomization (autoscalerRef of Canary {canary.key})")
            primary.append(generator.primary_hpa(canary, plain(hpa[0].obj), ns))
        groups = {f"{canary.target.name}-primary.yaml": primary,
                  f"{svc}-services.yaml": generator.services(canary, label, value, ns, data),
                  f"{svc}-routing.yaml": generator.routing(canary, ns)}
        return {name: missing for name, objs in groups.items()
                if (missing := [o for o in objs
                                if not self._exists(o["kind"], ns, o["metadata"]["name"])])}

    def _adopt_service(self, canary: Canary, label: str, value: str) -> list[FieldChange]:
        """The team's own Service `<svc>` selects the primary pods (as Flagger does)."""
        team = [o for o in self.flux.view.find("Service", canary.service_name, canary.namespace)
                if not layout.is_owned(o.origin.file)]
        if not team:
            return []
        want = {label: f"{value}-primary"}
        if (team[0].obj.get("spec") or {}).get("selector") == want:
            return []
        return self._set(team[0], ("spec", "selector"), want)

    # -- promotion, replicas --------------------------------------------------------------
    def promote(self, canary: Canary) -> list[FieldChange]:
        """Copy the rendered target's pod template (and rollout settings) into the primary."""
        data, label, value = self.target_data(canary)
        primary = self.require("Deployment", canary.namespace, canary.primary_name,
                               f"promotion of Canary {canary.key}")
        source = data["spec"]
        tracked = configs.tracked(self.flux, self.rendered_target(canary))
        want = {"template": primary_pod_template(
            primary_template(source.get("template"), label, value), configs.payloads(tracked))}
        want.update((k, source[k]) for k in PROMOTED_SPEC_FIELDS if k in source)
        dest = primary.doc.data.setdefault("spec", CommentedMap())
        keep = frozenset(k for k in dest if k not in PROMOTED_SPEC_FIELDS)
        changes: Changes = []
        merge_mapping(dest, want, "spec", changes, keep=keep)
        self._check_primary(canary)
        found = self._promote_configs(canary, tracked) + self._promote_hpa(canary)
        return found + record(primary, changes)

    def _promote_hpa(self, canary: Canary) -> list[FieldChange]:
        """Keep the primary's HPA in step with the target's (min/max overrides of the Canary)."""
        if canary.autoscaler is None:
            return []
        ns, name = canary.namespace, canary.autoscaler.name
        rendered = self.flux.view.find("HorizontalPodAutoscaler", name, ns)
        entry = self.index.find("HorizontalPodAutoscaler", ns, f"{name}-primary")
        if not rendered or entry is None or not layout.is_owned(entry.file.rel):
            return []
        want = generator.primary_hpa(canary, plain(rendered[0].obj), ns)["spec"]
        changes: Changes = []
        merge_mapping(entry.doc.data.setdefault("spec", CommentedMap()), want, "spec", changes)
        return record(entry, changes)

    def _promote_configs(self, canary: Canary, tracked: dict[Any, Obj]) -> list[FieldChange]:
        """Rewrite the `-primary` config copies for the promoted template (registering a new
        copies file in gitbot's kustomization.yaml)."""
        folder = layout.own_directory(self.flux.view.cluster,
                                      self.flux.rendered(canary).kustomization)
        rel = f"{folder}/{configs.file_name(canary)}"
        existed = rel in self.index.files or (self.root / rel).is_file()
        changes = configs.write(self.index, canary, rel, tracked)
        if changes and not existed:
            changes += register_files(self.index, self.root, canary, folder,
                                      [configs.file_name(canary)])
        return changes

    def set_replicas(self, namespace: str, name: str, replicas: int) -> list[FieldChange]:
        """Scale a team Deployment where it takes effect. An autoscaled target scaled up gets
        no `replicas` at all (absent, the HPA owns the field: Flux's server-side apply neither
        re-applies nor fights it); scaled to zero it gets `replicas: 0` (an HPA does not act
        on a Deployment at zero)."""
        team = [o for o in self.flux.view.find("Deployment", name, namespace)
                if not layout.is_owned(o.origin.file)]
        if not team:
            return super().set_replicas(namespace, name, replicas)
        autoscaled = (namespace, name) in self.flux.autoscaled
        return self._set(team[0], ("spec", "replicas"),
                         None if autoscaled and replicas > 0 else replicas)

    def _set(self, obj: RenderedObject, path: tuple[str, ...], value: Any) -> list[FieldChange]:
        def read(rendered: Any) -> Any:
            return _get(rendered, path)

        self.checks.append(Check(obj.kind, obj.namespace or "", obj.name, ".".join(path), value,
                                 read))
        return set_effective(self.index, self.flux, obj, path, value)

    def routing_objects(self, canary: Canary) -> list[Obj]:
        """The Services, DestinationRules and VirtualService the Canary asks for now."""
        data, label, value = self.target_data(canary)
        ns = canary.namespace
        return generator.services(canary, label, value, ns, data) + generator.routing(canary, ns)

    def update_routing(self, canary: Canary) -> list[FieldChange]:
        """Canary edits reconcile (`gitbot.adapters.flux_routing`)."""
        changes = flux_routing.update_routing(self, canary)
        if any(c.kind == "VirtualService" for c in changes):
            self.set_traffic(canary, self.get_traffic(canary) or Traffic())  # the weights check
        return changes

    # -- traffic --------------------------------------------------------------------------
    def _team_virtual_service(self, canary: Canary) -> RenderedObject | None:
        found = [o for o in self.flux.view.find("VirtualService", canary.service_name,
                                                canary.namespace)
                 if not layout.is_owned(o.origin.file)]
        return found[0] if found else None

    def set_traffic(self, canary: Canary, traffic: Traffic) -> list[FieldChange]:
        """Set the weights; a team's own VirtualService is edited in its file, which must be
        this environment's (its routes are a list no patch entry can merge safely)."""
        team = self._team_virtual_service(canary)
        if team is not None and (is_shared(self.flux, team)
                                 or built_elsewhere(self.root, self.flux, team)):
            raise InvalidInputError(
                f"{team.origin.where()}: VirtualService {canary.namespace}/"
                f"{canary.service_name}: adopted by Canary {canary.key}, but its file is shared "
                "by several environments, so gitbot cannot set one environment's weights "
                "there; move it into the environment's directory, or delete it and gitbot "
                "generates one")
        changes = super().set_traffic(canary, traffic)
        want = self.get_traffic(canary)
        self.checks.append(Check("VirtualService", canary.namespace, canary.service_name,
                                 "spec.http (weights)", want,
                                 lambda o: read_traffic(canary, _get(o, ("spec", "http")) or [])))
        return changes

    def _check_primary(self, canary: Canary) -> None:
        primary = self.get("Deployment", canary.namespace, canary.primary_name) or {}
        want = (primary.get("spec") or {}).get("template")
        self.checks = [c for c in self.checks if c.name != canary.primary_name]
        self.checks.append(Check("Deployment", canary.namespace, canary.primary_name,
                                 "spec.template", want,
                                 lambda o: _get(o, ("spec", "template"))))

    # -- save and verify ------------------------------------------------------------------
    def changed_files(self) -> list[str]:
        return sorted({*super().changed_files(), *self.direct})

    def save(self) -> list[str]:
        """Write the indexed files (the direct edits are written already), then render them as
        Flux would and verify the checks once."""
        written = sorted({*super().save(), *self.direct})
        if self.flux.cache is not None:  # its artifact copy re-reads them (render.mirror)
            self.flux.cache.changed(written)
        if written and self.checks:
            verify(self.root, self.flux, self.checks)
        return written



def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj
