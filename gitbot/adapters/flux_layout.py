"""Where gitbot writes in a Flux repository: its own directory and Flux Kustomization per team one.

For a canary rendered by the team's Flux Kustomization `flux-system/apps` of cluster
`clusters/prod`, the generated objects (primary, Services, DestinationRules, VirtualService) go
to `gitbot/clusters/prod/apps/`, applied by a Flux Kustomization `gitbot-apps` declared in
`clusters/prod/gitbot-apps.yaml`: same source, interval and `targetNamespace` as the team's, and
`dependsOn` it. The team's transformers (`images:`, patches, `namePrefix`, ...) never touch
those objects, so the primary keeps the promoted template until gitbot promotes. Called by
`gitbot.adapters.flux_editor`.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from gitbot.adapters.manifest_index import ManifestIndex
from gitbot.adapters.render import FluxKustomization
from gitbot.adapters.yamlio import YamlFile

OWN_ROOT = "gitbot"
OWN_PREFIX = "gitbot-"
FLUX_API = "kustomize.toolkit.fluxcd.io/v1"


def slug(team: FluxKustomization) -> str:
    """The directory / name part for a team Kustomization: its name, namespaced if not Flux's."""
    return team.name if team.namespace == "flux-system" else f"{team.namespace}-{team.name}"


def cluster_directory(cluster: str) -> str:
    """`gitbot/<cluster>`: gitbot's files for one cluster."""
    return posixpath.join(OWN_ROOT, *([cluster] if cluster not in ("", ".") else []))


def own_directory(cluster: str, team: FluxKustomization) -> str:
    """`gitbot/<cluster>/<kustomization>`: the repository-relative directory gitbot owns."""
    return posixpath.join(cluster_directory(cluster), slug(team))


def own_kustomization_file(cluster: str, team: FluxKustomization) -> str:
    """`<cluster>/gitbot-<kustomization>.yaml`: picked up by the cluster's root Kustomization."""
    name = f"{OWN_PREFIX}{slug(team)}.yaml"
    return name if cluster in ("", ".") else posixpath.join(cluster, name)


def is_owned(path: str | None) -> bool:
    """True for files in gitbot's own directory."""
    return bool(path) and (path == OWN_ROOT or str(path).startswith(OWN_ROOT + "/"))


def own_name(team: FluxKustomization) -> str:
    """`gitbot-<name>`: the Flux Kustomization applying gitbot's directory for `team`."""
    return f"{OWN_PREFIX}{team.name}"


def own_kustomization(cluster: str, team: FluxKustomization) -> dict[str, Any]:
    """The Flux Kustomization applying gitbot's directory for the team Kustomization `team`."""
    spec: dict[str, Any] = {
        "interval": team.spec.get("interval") or "10m0s",
        "dependsOn": [{"name": team.name}],
        "path": "./" + own_directory(cluster, team),
        "prune": True,
        "sourceRef": _source_ref(team),
    }
    if team.target_namespace:
        spec["targetNamespace"] = team.target_namespace
    return {
        "apiVersion": FLUX_API,
        "kind": "Kustomization",
        "metadata": {"name": own_name(team), "namespace": team.namespace},
        "spec": spec,
    }


def _source_ref(team: FluxKustomization) -> dict[str, Any]:
    """The team's sourceRef; for one read through an ExternalArtifact, the repository's
    GitRepository (gitbot's directory is not in the artifact)."""
    if team.artifact is None:
        return {k: v for k, v in dict(team.spec.get("sourceRef") or {}).items()}
    ref = {"kind": team.source.kind, "name": team.source.name}
    if team.source.namespace != team.namespace:
        ref["namespace"] = team.source.namespace
    return ref


def own_kustomize_file(resources: list[str]) -> dict[str, Any]:
    """The kustomization.yaml of gitbot's directory (listing the generated files)."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": list(resources)}


class ClusterIndex(ManifestIndex):
    """The repository's objects without gitbot's files for other clusters (which hold objects
    of the same names: `gitbot/clusters/staging/...` is not this cluster's primary)."""

    def __init__(self, root: Path, own_root: str) -> None:
        super().__init__(root)
        self.own_root = own_root + "/"

    def add_file(self, yfile: YamlFile) -> None:
        if is_owned(yfile.rel) and not yfile.rel.startswith(self.own_root):
            return
        super().add_file(yfile)
