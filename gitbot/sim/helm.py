"""A simulated helm-controller: what a HelmRelease of a podinfo-like chart renders.

``render_release(doc)`` returns the manifests (plain dicts) helm-controller would apply for a
helm.toolkit.fluxcd.io HelmRelease: a Deployment and a Service named like stefanprodan/podinfo's
chart does (``podinfo.fullname``: ``fullnameOverride``; else the release name when it contains
``nameOverride`` or the chart name, otherwise ``<release>-<name>``; 63 characters), in
``spec.targetNamespace`` or the release's namespace, with ``replicaCount``, ``image.repository``
and ``image.tag`` from ``spec.values``, then the ``postRenderers`` kustomize JSON6902 patches
(add/replace/remove) applied to the objects their ``target`` selects. Written independently of
``gitbot.core.helm`` on purpose: the simulator is the cluster gitbot is tested against.
``gitbot.sim.flux.load_manifests`` calls it for each HelmRelease Flux applies.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from gitbot.sim.objects import ManifestError

DEFAULT_IMAGE = "ghcr.io/stefanprodan/podinfo"
HTTP_PORT = 9898


def _fullname(release: str, chart: str, values: Mapping[str, Any]) -> str:
    if values.get("fullnameOverride"):
        return str(values["fullnameOverride"])[:63].rstrip("-")
    name = str(values.get("nameOverride") or chart)
    return (release if name in release else f"{release}-{name}")[:63].rstrip("-")


def render_release(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Deployment and Service of a HelmRelease, post-renderers applied."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    chart = str(((spec.get("chart") or {}).get("spec") or {}).get("chart") or "")
    if not chart:
        raise ManifestError(f"HelmRelease {meta.get('name')}: spec.chart.spec.chart is required")
    target_ns = spec.get("targetNamespace")
    release = str(spec.get("releaseName") or (f"{target_ns}-{meta.get('name')}" if target_ns
                                              else meta.get("name")))
    namespace = str(target_ns or meta.get("namespace") or "default")
    values = spec.get("values") or {}
    name = _fullname(release, chart, values)
    selector = {"app.kubernetes.io/name": str(values.get("nameOverride") or chart),
                "app.kubernetes.io/instance": release}
    image = values.get("image") or {}
    container = {"name": chart, "image": f"{image.get('repository') or DEFAULT_IMAGE}:"
                                         f"{image.get('tag') or 'latest'}"}
    objects = [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"replicas": int(values.get("replicaCount", 1)),
                  "selector": {"matchLabels": dict(selector)},
                  "template": {"metadata": {"labels": dict(selector)},
                               "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"selector": dict(selector),
                  "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}]}},
    ]
    for entry in spec.get("postRenderers") or ():
        for patch in ((entry or {}).get("kustomize") or {}).get("patches") or ():
            objects = [_patched(o, patch) for o in objects]
    return objects


def _selected(obj: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    return all(obj.get(k) == v if k == "kind" else obj["metadata"].get(k) == v
               for k, v in target.items() if k in ("kind", "name", "namespace"))


def _patched(obj: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    if not _selected(obj, patch.get("target") or {}):
        return obj
    ops = YAML(typ="safe").load(str(patch.get("patch") or ""))  # YAML, as Flux reads it
    if not isinstance(ops, list):
        raise ManifestError("postRenderers: only JSON6902 patches are simulated")
    out = copy.deepcopy(obj)
    for op in ops:
        _apply(out, op)
    return out


def _apply(obj: dict[str, Any], op: Mapping[str, Any]) -> None:
    keys = [k.replace("~1", "/").replace("~0", "~") for k in str(op.get("path")).split("/")[1:]]
    if not keys:
        raise ManifestError(f"postRenderers: bad path {op.get('path')!r}")
    node: Any = obj
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last, kind = keys[-1], op.get("op")
    if kind in ("add", "replace"):
        if isinstance(node, list) and last == "-":
            node.append(op.get("value"))
        elif isinstance(node, list) and kind == "add":
            node.insert(int(last), op.get("value"))
        elif isinstance(node, list):
            node[int(last)] = op.get("value")
        else:
            node[last] = op.get("value")
    elif kind == "remove":
        del node[int(last) if isinstance(node, list) else last]
    else:
        raise ManifestError(f"postRenderers: op {kind!r} is not simulated")
