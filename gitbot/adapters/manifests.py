"""The manifest editor: reads and edits a GitOps checkout in place, keeping its formatting.

Called by the reconciler to turn a `RepoChange` into file edits (replicas, VirtualService
routes, promotion, bootstrap) and to observe the repository (target revision, current traffic,
whether the generated objects exist). Every edit is minimal (see `manifest_merge`) and returns
the `FieldChange` records; `save()` writes only the files whose text changed. The
VirtualService routes are merged by `gitbot.adapters.manifest_routes`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from gitbot.adapters import bootstrap as generator
from gitbot.adapters import configs as tracking
from gitbot.adapters.manifest_index import DocRef, Entry, ManifestIndex
from gitbot.adapters.manifest_merge import Changes, merge_mapping, plain, set_path
from gitbot.adapters.manifest_routes import apply_routes
from gitbot.adapters.manifest_types import (
    GENERATED_MARK,
    FieldChange,
    ManifestNotFoundError,
    ManifestShapeError,
    selector_label,
)
from gitbot.adapters.safefs import check_writable
from gitbot.core.configrefs import config_payload, primary_pod_template
from gitbot.core.revision import referenced_configs, revision_hash
from gitbot.core.routes import http_routes, read_traffic
from gitbot.core.spec import Canary
from gitbot.core.state import Traffic

PROMOTED_SPEC_FIELDS = ("strategy", "minReadySeconds", "revisionHistoryLimit",
                        "progressDeadlineSeconds")


def record(entry: Entry, changes: Changes) -> list[FieldChange]:
    """FieldChange records for the changes made to one object."""
    if changes:
        entry.doc.touch()
    return [
        FieldChange(entry.file.rel, entry.kind, entry.namespace, entry.name, f, old, new)
        for f, old, new in changes
    ]


class ManifestEditor:
    """Edits the Kubernetes manifests under `root` (a checkout of the GitOps repository)."""

    def __init__(self, root: Path, index: ManifestIndex | None = None) -> None:
        self.root = root
        self.index = index if index is not None else ManifestIndex(root)

    # -- lookup ---------------------------------------------------------------------------
    def find(self, kind: str, namespace: str, name: str) -> DocRef | None:
        entry = self.index.find(kind, namespace, name)
        return entry.ref if entry else None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A plain-data copy of the object (reflecting unsaved edits)."""
        entry = self.index.find(kind, namespace, name)
        return plain(entry.doc.data) if entry else None

    def require(self, kind: str, namespace: str, name: str, why: str = "") -> Entry:
        entry = self.index.find(kind, namespace, name)
        if entry is None:
            where = f" (needed by {why})" if why else ""
            skipped = list(self.index.skipped.values())
            more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
            unread = f"; files not read: {'; '.join(skipped[:3])}{more}" if skipped else ""
            raise ManifestNotFoundError(
                f"{kind} {namespace}/{name} not found in any YAML file under {self.root}{where}"
                f"{unread}"
            )
        return entry

    def target(self, canary: Canary) -> Entry:
        return self.require("Deployment", canary.namespace, canary.target.name,
                            f"Canary {canary.key} targetRef")

    # -- replicas -------------------------------------------------------------------------
    def get_replicas(self, namespace: str, name: str) -> int | None:
        entry = self.index.find("Deployment", namespace, name)
        spec = entry.doc.data.get("spec") if entry is not None else None  # read, not copied
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        boolean = isinstance(replicas, bool) or type(replicas).__name__ == "ScalarBoolean"
        return int(replicas) if isinstance(replicas, int) and not boolean else None

    def set_replicas(self, namespace: str, name: str, replicas: int) -> list[FieldChange]:
        entry = self.require("Deployment", namespace, name)
        changes: Changes = []
        set_path(entry.doc.editable(), "spec.replicas", replicas, changes)
        return record(entry, changes)

    # -- traffic --------------------------------------------------------------------------
    def virtual_service(self, canary: Canary) -> Entry:
        return self.require("VirtualService", canary.namespace, canary.service_name,
                            f"Canary {canary.key}")

    def get_traffic(self, canary: Canary) -> Traffic | None:
        data = self.get("VirtualService", canary.namespace, canary.service_name)
        http = ((data or {}).get("spec") or {}).get("http") or []
        return read_traffic(canary, http)

    def set_traffic(self, canary: Canary, traffic: Traffic) -> list[FieldChange]:
        """Set the managed route(s) of VirtualService `<svc>` to the desired routes."""
        entry = self.virtual_service(canary)
        adopted = not is_generated(entry)
        changes: Changes = []
        apply_routes(canary, entry.doc.editable(), http_routes(canary, traffic), adopted,
                     changes)
        return record(entry, changes)

    # -- promotion ------------------------------------------------------------------------
    def promote(self, canary: Canary) -> list[FieldChange]:
        """Copy the target's pod template (and rollout settings) into `<target>-primary`.

        The `-primary` copies of the tracked configs are refreshed (or created) first; the
        copied template references them and carries their checksum annotation.
        """
        target = self.target(canary)
        primary = self.require("Deployment", canary.namespace, canary.primary_name,
                               f"promotion of Canary {canary.key}")
        tracked = tracking.tracked_configs(self.index, canary.namespace, target)
        found = tracking.refresh_copies(self.index, canary, target, tracked)
        label, value = selector_label(plain(target.doc.data), target.subject)
        source, dest = target.doc.data["spec"], primary.doc.data.setdefault("spec", CommentedMap())
        template = primary_template(source.get("template"), label, value)
        want = {"template": primary_pod_template(template, tracking.payloads(tracked))}
        want.update((k, source[k]) for k in PROMOTED_SPEC_FIELDS if k in source)
        keep = frozenset(k for k in dest if k not in PROMOTED_SPEC_FIELDS)
        changes: Changes = []
        merge_mapping(dest, want, "spec", changes, keep=keep)
        return found + record(primary, changes)

    # -- bootstrap ------------------------------------------------------------------------
    def bootstrap(self, canary: Canary) -> list[FieldChange]:
        """Generate the primary, config copies, services, destination rules and VirtualService.

        Idempotent: objects already in the repository are not generated again.

        An existing VirtualService `<svc>` without managed routes is adopted: its routes to the
        service are pointed at `<svc>-primary` (100) and `<svc>-canary` (0).
        """
        target = self.target(canary)
        tracked = tracking.tracked_configs(self.index, canary.namespace, target)
        changes = generator.bootstrap(self.index, canary, target, tracking.payloads(tracked))
        changes += tracking.create_copies(self.index, canary, target, tracked)
        changes += self.adopt_apex_service(canary, target)
        vs = self.index.find("VirtualService", canary.namespace, canary.service_name)
        if vs is not None and not is_generated(vs) and self.get_traffic(canary) is None:
            changes += self.set_traffic(canary, Traffic())
        return changes

    def bootstrap_primary(self, canary: Canary) -> list[FieldChange]:
        """Staged initialization (the primary alone first) is for Flux layouts (FluxEditor)."""
        raise ManifestShapeError(f"Canary {canary.key}: staged initialization needs a Flux "
                                 "repository")

    def update_routing(self, canary: Canary) -> list[FieldChange]:
        """Canary edits reconcile is for Flux layouts (FluxEditor)."""
        raise ManifestShapeError(f"Canary {canary.key}: routing updates need a Flux repository")

    def adopt_apex_service(self, canary: Canary, target: Entry) -> list[FieldChange]:
        """Point the team's own Service `<svc>` at the primary pods, as Flagger does.

        Initialization scales the target to 0, so a Service still selecting the target's pods
        would lose every endpoint for clients outside the mesh. Only `spec.selector` changes;
        ports, metadata and comments stay as written.
        """
        entry = self.index.find("Service", canary.namespace, canary.service_name)
        if entry is None or is_generated(entry):
            return []
        label, value = selector_label(plain(target.doc.data), target.subject)
        spec = entry.doc.data.setdefault("spec", CommentedMap())
        changes: Changes = []
        merge_mapping(spec, {"selector": {label: f"{value}-primary"}}, "spec", changes,
                      keep=frozenset(k for k in spec if k != "selector"))
        return record(entry, changes)

    def has_primary(self, canary: Canary) -> bool:
        """The primary (`<t>-primary` Deployment; a HelmRelease for Helm targets) exists."""
        return self.find("Deployment", canary.namespace, canary.primary_name) is not None

    def is_bootstrapped(self, canary: Canary) -> bool:
        return all(self.index.find(kind, canary.namespace, name) is not None
                   for kind, name in generator.required_objects(canary))

    # -- observation ----------------------------------------------------------------------
    def target_revision(self, canary: Canary) -> str:
        """Hash of the target's pod template and the ConfigMaps/Secrets it references."""
        target = self.get("Deployment", canary.namespace, canary.target.name)
        template = ((target or {}).get("spec") or {}).get("template")
        if not isinstance(template, dict):
            return ""
        configs: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, name in referenced_configs(template):
            data = self.get(kind, canary.namespace, name)
            if data is not None:
                configs[(kind, name)] = config_payload(data)
        return revision_hash(template, configs)

    def changed_files(self) -> list[str]:
        return [rel for rel, f in self.index.files.edited() if f.changed]

    def save(self) -> list[str]:
        """Write the changed and new files; returns their repository-relative paths.

        Every path is checked first (`safefs.check_writable`), so a refused one writes nothing.
        """
        pending = [(rel, f, f.render()) for rel, f in self.index.files.edited()]
        for rel, f, text in pending:  # each file rendered once, for the check and the write
            if f.is_new or text != f.original:
                check_writable(self.root, rel)
        return [rel for rel, f, text in pending if f.save(text)]


def is_generated(entry: Entry) -> bool:
    """True for objects in files gitbot generated (their header carries the mark)."""
    return entry.file.is_new or GENERATED_MARK in entry.file.original


def primary_template(template: Any, label: str, value: str) -> Any:
    """The target's pod template as the primary wants it: `-primary` label, no Flux keys."""
    want = copy.deepcopy(template) if template is not None else CommentedMap()
    meta = want.setdefault("metadata", CommentedMap())
    labels = meta.setdefault("labels", CommentedMap())
    labels[label] = f"{value}-primary"
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in [k for k in annotations if "toolkit.fluxcd.io" in str(k)]:
            del annotations[key]
    return want
