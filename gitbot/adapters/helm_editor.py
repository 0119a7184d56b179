"""The manifest editor for a canary whose target Deployment a Flux HelmRelease renders.

`editor_for(root, flux, canary)` returns a `HelmEditor` when the loader resolved the canary's
target to a HelmRelease (`FluxSpecs.helm`). It is a `FluxEditor` (gitbot's own directory and
Flux Kustomization, render-edit-verify) whose objects differ:

- the primary is the HelmRelease `<release>-primary` (`gitbot.core.helm_primary`), written
  alone by the first initialization commit; its chart creates the Deployment and the Service
  `<target>-primary`;
- routing generates only what the charts do not create: the Service `<svc>-canary` (selecting
  the team release's pods by the chart's selector labels), the DestinationRules and the
  VirtualService `<svc>`, which routes the host `<svc>` to `<svc>-primary` and `<svc>-canary`;
  the team chart's own Service `<svc>` selects the primary's pods through gitbot's permanent
  `postRenderers` entry on the team release (`gitbot.core.helm_apex`), written by the second
  initialization commit (once the primary release is committed) or the next scaling, so
  clients outside the mesh keep endpoints while the canary is at 0;
- promotion copies the team release's chart version and values into `<release>-primary`
  (`gitbot.adapters.helm_canary.promote`), in one minimal edit;
- the canary is scaled to 0 by gitbot's own `postRenderers` entry (or the Canary's replicas
  values path), written where it takes effect for this Flux Kustomization only, and scaled up
  by removing it (the chart's own replicas);
- every edit is verified on the rendered HelmReleases before anything is committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitbot.adapters import bootstrap as generator
from gitbot.adapters import flux_layout as layout
from gitbot.adapters import helm_canary
from gitbot.adapters.flux_editor import FluxEditor, _get
from gitbot.adapters.flux_own_files import (
    declare_own_kustomization,
    register_files,
    unignore_own_directory,
)
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.flux_verify import Check
from gitbot.adapters.helm_edit import primary_yaml
from gitbot.adapters.manifest_merge import plain
from gitbot.adapters.manifest_types import FieldChange, ManifestNotFoundError
from gitbot.adapters.safefs import new_file
from gitbot.adapters.yamlio import YamlFile
from gitbot.core.helm import metadata_key, selector_labels
from gitbot.core.helm_apex import apex_selector, primary_selector
from gitbot.core.helm_scale import scaled_replicas
from gitbot.core.spec import Canary

Obj = dict[str, Any]


class HelmEditor(FluxEditor):
    """Edits for one HelmRelease-deployed canary (see the module docstring)."""

    def __init__(self, root: Path, flux: FluxSpecs, canary: Canary) -> None:
        super().__init__(root, flux)
        found = flux.helm_target(canary)
        assert found is not None, canary.key
        self.helm = found
        self.canary = canary
        self.target_key = (canary.namespace, canary.target.name)

    # -- names ----------------------------------------------------------------------------
    @property
    def primary_key(self) -> tuple[str, str]:
        meta = self.helm.primary["metadata"]
        return str(meta["namespace"]), str(meta["name"])

    @property
    def release_key(self) -> tuple[str, str]:
        return metadata_key(self.helm.release.release)

    def has_primary(self, canary: Canary) -> bool:
        return self._exists("HelmRelease", *self.primary_key)

    def is_bootstrapped(self, canary: Canary) -> bool:
        return self.has_primary(canary) and all(
            self._exists(o["kind"], canary.namespace, o["metadata"]["name"])
            for o in self.routing_objects(canary))

    # -- bootstrap ------------------------------------------------------------------------
    def bootstrap(self, canary: Canary, only_primary: bool = False) -> list[FieldChange]:
        """The primary release (first stage), then the `-canary` Service and the routing."""
        team = self.flux.rendered(canary).kustomization
        cluster = self.flux.view.cluster
        folder = layout.own_directory(cluster, team)
        changes: list[FieldChange] = []
        created: list[str] = []
        for name, (text, objs) in self._files(canary, only_primary).items():
            rel = new_file(self.root, folder, name, f"Canary {canary.key}")
            self.index.add_file(YamlFile.create(self.root, rel, text))
            created.append(name)
            changes += [FieldChange(rel, o["kind"], o["metadata"]["namespace"],
                                    o["metadata"]["name"], "", None, o) for o in objs]
        if created:
            changes += register_files(self.index, self.root, canary, folder, created)
            changes += declare_own_kustomization(self.index, self.root, canary, cluster, team)
            changes += unignore_own_directory(self.root, folder, self.direct)
        if not only_primary:
            changes += self._point_apex(canary)
        self._check_primary(canary)
        return changes

    def _files(self, canary: Canary, only_primary: bool) -> dict[str, tuple[str, list[Obj]]]:
        """File name -> (text, objects) for what is missing."""
        out: dict[str, tuple[str, list[Obj]]] = {}
        namespace, name = self.primary_key
        if not self._exists("HelmRelease", namespace, name):
            source = "/".join(self.release_key)
            out[f"{name}.yaml"] = (primary_yaml(self.helm.primary, source, canary.key),
                                   [self.helm.primary])
        if only_primary:
            return out
        svc = canary.service_name
        groups = {f"{svc}-services.yaml": self.routing_objects(canary)[:1],
                  f"{svc}-routing.yaml": self.routing_objects(canary)[1:]}
        for file, objs in groups.items():
            missing = [o for o in objs
                       if not self._exists(o["kind"], canary.namespace, o["metadata"]["name"])]
            if missing:
                out[file] = (generator.render_file(canary, missing), missing)
        return out

    def routing_objects(self, canary: Canary) -> list[Obj]:
        """The `<svc>-canary` Service (the team release's pods), DestinationRules and
        VirtualService; `<svc>` and `<svc>-primary` are the two charts' own Services."""
        ns, svc = canary.namespace, canary.service_name
        chosen = self.helm.resolution.options.selector
        selector = dict(chosen) if chosen else selector_labels(self.helm.release.release)
        service = generator.service(canary, f"{svc}-canary", selector, canary.service.canary, ns)
        return [service, *generator.routing(canary, ns)]

    # -- the apex Service -----------------------------------------------------------------
    def primary_selector(self, canary: Canary) -> dict[str, str] | None:
        """The primary release's pod labels (None: the selector annotation names neither the
        release nor the target, so gitbot cannot tell them)."""
        return primary_selector(self.helm.release.release, self.helm.primary,
                                canary.target.name, self.helm.resolution.options.selector)

    def _apex_on(self, canary: Canary) -> dict[str, str] | None:
        """The selector gitbot's apex entry sets, once the primary release is committed."""
        if not self.flux.view.find("HelmRelease", self.primary_key[1], self.primary_key[0]):
            return None  # never point <svc> at pods that do not exist yet
        return self.primary_selector(canary)

    def _point_apex(self, canary: Canary) -> list[FieldChange]:
        """gitbot's permanent entry: the chart's Service `<svc>` selects the primary's pods."""
        selector = self._apex_on(canary)
        if selector is None:
            return []
        svc = canary.service_name
        field = f"gitbot's Service {svc} selector"
        self.checks = [c for c in self.checks if c.field != field]
        self.checks.append(Check("HelmRelease", *self.release_key, field, selector,
                                 lambda o: _apex_of(o, svc)))
        if not helm_canary.point_apex(self.root, self.helm, svc, selector):
            return []
        self.direct.append(self.helm.site.file)
        scaled = self.get_replicas(*self.target_key)
        if self.helm.resolution.options.replicas_path is None and scaled is not None:
            # an earlier scaling item created the list: it now appends after the apex item
            helm_canary.scale(self.root, self.helm, self.target_key[1], scaled, after_apex=True)
        old = apex_selector(self.helm.release.release)
        return [FieldChange(self.helm.site.file, "HelmRelease", *self.release_key,
                            f"spec.postRenderers (gitbot: Service {svc} selector)",
                            old[1] if old else None, selector)]

    def _check_primary(self, canary: Canary) -> None:
        entry = self.index.find("HelmRelease", *self.primary_key)
        if entry is None:
            return
        self._check(_promoted(plain(entry.doc.data)))

    def _check(self, want: dict[str, Any]) -> None:
        """Verify the rendered primary release carries `want` (chart version and values)."""
        self.checks = [c for c in self.checks if c.name != self.primary_key[1]]
        self.checks.append(Check("HelmRelease", self.primary_key[0], self.primary_key[1],
                                 "spec.chart.spec.version, spec.values", want, _promoted))

    # -- promotion ------------------------------------------------------------------------
    def promote(self, canary: Canary) -> list[FieldChange]:
        """Copy the team release's chart version and values into `<release>-primary`."""
        entry = self.index.find("HelmRelease", *self.primary_key)
        if entry is None:
            raise ManifestNotFoundError(
                f"HelmRelease {'/'.join(self.primary_key)} not found (promotion of Canary "
                f"{canary.key})")
        rel, before = entry.file.rel, _promoted(plain(entry.doc.data))
        if not helm_canary.promote(self.root, self.helm, rel):
            return []
        self.direct.append(rel)
        chosen = self.helm.promotion
        after = {"chart": {"spec": {"version": chosen.version if chosen.version is not None
                                    else before["chart"]["spec"]["version"]}},
                 "values": chosen.values}
        self._check(after)
        return [FieldChange(rel, "HelmRelease", self.primary_key[0], self.primary_key[1], f,
                            old, new) for f, old, new in _diff(before, after, "spec")]

    # -- replicas -------------------------------------------------------------------------
    def get_replicas(self, namespace: str, name: str) -> int | None:
        if (namespace, name) != self.target_key:
            return super().get_replicas(namespace, name)
        return scaled_replicas(self.helm.release.release,
                               self.helm.resolution.options.replicas_path)

    def set_replicas(self, namespace: str, name: str, replicas: int) -> list[FieldChange]:
        """0: gitbot's scaling entry says 0; more: the entry is removed (the chart decides)."""
        if (namespace, name) != self.target_key:
            return super().set_replicas(namespace, name, replicas)
        want = 0 if replicas == 0 else None
        changes = self._point_apex(self.canary)
        apex = self._apex_on(self.canary) is not None
        old = self.get_replicas(namespace, name)
        path = self.helm.resolution.options.replicas_path
        if want is not None or path is None:
            self.checks.append(Check("HelmRelease", self.release_key[0], self.release_key[1],
                                     "gitbot's canary scaling", want,
                                     lambda o: scaled_replicas(o, path)))
        if not helm_canary.scale(self.root, self.helm, name, want, after_apex=apex):
            return changes
        self.direct.append(self.helm.site.file)
        field = ("spec.values." + ".".join(path)) if path else "spec.postRenderers (gitbot)"
        return [*changes, FieldChange(self.helm.site.file, "HelmRelease", self.release_key[0],
                                      self.release_key[1], field, old, want)]

    # -- save and verify ------------------------------------------------------------------


def _apex_of(release: Mapping[str, Any], service: str) -> dict[str, str] | None:
    """The selector gitbot's apex entry in a rendered release gives Service `service`."""
    found = apex_selector(release)
    return found[1] if found is not None and found[0] == service else None


def _promoted(release: Mapping[str, Any]) -> dict[str, Any]:
    spec = release.get("spec") or {}
    version = _get(spec, ("chart", "spec", "version"))
    return {"chart": {"spec": {"version": version}}, "values": spec.get("values") or {}}


def _diff(old: Any, new: Any, prefix: str) -> list[tuple[str, Any, Any]]:
    """Leaf differences between two plain trees, as (dotted field, old, new)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[tuple[str, Any, Any]] = []
        for key in [*old, *(k for k in new if k not in old)]:
            found += _diff(old.get(key), new.get(key), f"{prefix}.{key}")
        return found
    return [] if old == new else [(prefix, old, new)]
