"""Generation of the objects a canary needs, as new files next to the target's manifest.

Called by `ManifestEditor.bootstrap` (gitbot.adapters.manifests). Like Flagger's bootstrap it
creates `<t>-primary` (and `<hpa>-primary`), the Services `<svc>`, `<svc>-primary`,
`<svc>-canary`, the DestinationRules and the VirtualService at 100/0, but as files in Git:
`<t>-primary.yaml`, `<svc>-services.yaml` and `<svc>-routing.yaml`, registered in the
directory's `kustomization.yaml` when there is one. Objects already in the repository are
never regenerated, so a second bootstrap changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitbot.adapters.manifest_index import KUSTOMIZATION_NAMES, Entry, ManifestIndex
from gitbot.adapters.manifest_merge import plain, to_node
from gitbot.adapters.manifest_types import (
    GENERATED_MARK,
    FieldChange,
    ManifestNotFoundError,
    ManifestShapeError,
    selector_label,
)
from gitbot.adapters.yamlio import YamlFile, dump_text
from gitbot.core.routes import destination_rule, object_metadata, virtual_service
from gitbot.core.spec import Canary, ServiceMetadata
from gitbot.core.state import Traffic

Obj = dict[str, Any]


def required_objects(canary: Canary) -> list[tuple[str, str]]:
    """(kind, name) of every object bootstrap generates for this canary."""
    svc = canary.service_name
    found = [("Deployment", canary.primary_name)]
    if canary.autoscaler is not None:
        found.append(("HorizontalPodAutoscaler", f"{canary.autoscaler.name}-primary"))
    found += [("Service", svc), ("Service", f"{svc}-primary"), ("Service", f"{svc}-canary")]
    found += [("DestinationRule", f"{svc}-primary"), ("DestinationRule", f"{svc}-canary")]
    return [*found, ("VirtualService", svc)]


def without_flux(values: Any) -> dict[str, Any]:
    """Labels or annotations minus the `toolkit.fluxcd.io` keys."""
    if not isinstance(values, Mapping):
        return {}
    return {k: v for k, v in values.items() if "toolkit.fluxcd.io" not in str(k)}


def primary_deployment(target: Obj, label: str, value: str, namespace: str) -> Obj:
    meta = target.get("metadata") or {}
    spec = copy.deepcopy(target.get("spec") or {})
    body: Obj = {"replicas": spec.pop("replicas", None) or 1, **spec}
    body["selector"] = {"matchLabels": {label: f"{value}-primary"}}
    template = body.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), label: f"{value}-primary"}
    if "annotations" in tmeta:
        tmeta["annotations"] = without_flux(tmeta["annotations"])
    labels = without_flux(meta.get("labels"))
    if label in labels:
        labels[label] = f"{value}-primary"
    return {
        "apiVersion": target.get("apiVersion", "apps/v1"),
        "kind": "Deployment",
        "metadata": object_metadata(f"{meta.get('name')}-primary", namespace, labels,
                                    without_flux(meta.get("annotations"))),
        "spec": body,
    }


def primary_hpa(canary: Canary, hpa: Obj, namespace: str) -> Obj:
    assert canary.autoscaler is not None
    meta = hpa.get("metadata") or {}
    spec = copy.deepcopy(hpa.get("spec") or {})
    spec["scaleTargetRef"] = {**(spec.get("scaleTargetRef") or {}), "name": canary.primary_name}
    if canary.autoscaler.primary_min_replicas is not None:
        spec["minReplicas"] = canary.autoscaler.primary_min_replicas
    if canary.autoscaler.primary_max_replicas is not None:
        spec["maxReplicas"] = canary.autoscaler.primary_max_replicas
    return {
        "apiVersion": hpa.get("apiVersion", "autoscaling/v2"),
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_metadata(f"{canary.autoscaler.name}-primary", namespace,
                                    without_flux(meta.get("labels")),
                                    without_flux(meta.get("annotations"))),
        "spec": spec,
    }


def service(canary: Canary, name: str, selector: dict[str, str], meta: ServiceMetadata,
            namespace: str) -> Obj:
    svc = canary.service
    port: Obj = {"name": svc.port_name, "port": svc.port, "protocol": "TCP",
                 "targetPort": svc.target_port if svc.target_port is not None else svc.port}
    if svc.app_protocol:
        port["appProtocol"] = svc.app_protocol
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(name, namespace, meta.labels, meta.annotations),
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [port]},
    }


def services(canary: Canary, label: str, value: str, namespace: str) -> list[Obj]:
    svc, s = canary.service_name, canary.service
    primary = {label: f"{value}-primary"}
    return [
        service(canary, svc, primary, s.apex, namespace),
        service(canary, f"{svc}-primary", primary, s.primary, namespace),
        service(canary, f"{svc}-canary", {label: value}, s.canary, namespace),
    ]


def routing(canary: Canary, namespace: str) -> list[Obj]:
    svc = canary.service_name
    objs = [destination_rule(canary, f"{svc}-primary"), destination_rule(canary, f"{svc}-canary"),
            virtual_service(canary, Traffic())]
    for obj in objs:
        obj["metadata"].pop("namespace", None)
        if namespace:
            obj["metadata"] = {"name": obj["metadata"]["name"], "namespace": namespace,
                               **obj["metadata"]}
    return objs


def render_file(canary: Canary, objects: list[Obj]) -> str:
    """The text of a generated file: a header comment, then the documents, 2-space indent."""
    header = (f"{GENERATED_MARK} from Canary {canary.key}.\n"
              "# gitbot edits the routes and the primary template during rollouts.\n")
    docs = [dump_text(to_node(obj)) for obj in objects]
    return header + "---\n" + "---\n".join(docs)


def generated_groups(index: ManifestIndex, canary: Canary, target: Entry) -> dict[str, list[Obj]]:
    """File name -> the objects to generate in it (only those not in the repository yet)."""
    data = plain(target.doc.data)
    label, value = selector_label(data, target.subject)
    namespace = str((data.get("metadata") or {}).get("namespace") or "")
    svc = canary.service_name
    groups: dict[str, list[Obj]] = {
        f"{canary.target.name}-primary.yaml": [primary_deployment(data, label, value, namespace)],
        f"{svc}-services.yaml": services(canary, label, value, namespace),
        f"{svc}-routing.yaml": routing(canary, namespace),
    }
    if canary.autoscaler is not None:
        hpa = index.find("HorizontalPodAutoscaler", canary.namespace, canary.autoscaler.name)
        if hpa is None:
            raise ManifestNotFoundError(
                f"HorizontalPodAutoscaler {canary.namespace}/{canary.autoscaler.name} not found "
                f"(autoscalerRef of Canary {canary.key})")
        groups[f"{canary.target.name}-primary.yaml"].append(
            primary_hpa(canary, plain(hpa.doc.data), namespace))
    return {
        name: missing for name, objs in groups.items()
        if (missing := [o for o in objs if index.find(o["kind"], canary.namespace,
                                                      o["metadata"]["name"]) is None])
    }


def bootstrap(index: ManifestIndex, canary: Canary, target: Entry) -> list[FieldChange]:
    """Create the missing objects as new files and register them in kustomization.yaml."""
    folder = target.file.path.parent
    rel_folder = target.file.rel.rpartition("/")[0]
    changes: list[FieldChange] = []
    for name, objs in generated_groups(index, canary, target).items():
        rel = f"{rel_folder}/{name}" if rel_folder else name
        if (folder / name).exists() or rel in index.files:
            raise ManifestShapeError(
                f"{rel}: exists but lacks {', '.join(o['kind'] for o in objs)} for {canary.key}")
        index.add_file(YamlFile.create(folder / name, rel, render_file(canary, objs)))
        changes += [FieldChange(rel, o["kind"], canary.namespace, o["metadata"]["name"], "",
                                None, o) for o in objs]
        changes += register_resource(index, rel_folder, name)
    return changes


def register_resource(index: ManifestIndex, rel_folder: str, name: str) -> list[FieldChange]:
    """Append `name` to the `resources:` of the folder's kustomization file, if one exists."""
    for kname in KUSTOMIZATION_NAMES:
        rel = f"{rel_folder}/{kname}" if rel_folder else kname
        kfile = index.files.get(rel)
        if kfile is None or not kfile.documents:
            continue
        doc = kfile.documents[0]
        data = doc.data
        if not isinstance(data, CommentedMap):
            return []
        resources = data.setdefault("resources", CommentedSeq())
        if name in resources:
            return []
        old = plain(resources)
        resources.append(name)
        doc.touch()
        return [FieldChange(rel, "Kustomization", "", "", "resources", old, plain(resources))]
    return []
