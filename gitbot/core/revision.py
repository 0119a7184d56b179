"""The revision of a canary target: a stable hash of its pod template and the configs it uses.

Pure functions called by the manifest editor (`ManifestEditor.target_revision`), whose result
becomes `Observation.target_revision`; `decide` starts a new run when it differs from
`RolloutState.last_applied_spec`. Like Flagger's config tracker, a change of a referenced
ConfigMap's or Secret's data is a new revision, while a reordering of keys is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

ConfigKey = tuple[str, str]  # ("ConfigMap" | "Secret", name)


def _as_mappings(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _volume_refs(volume: Mapping[str, Any]) -> Iterable[ConfigKey]:
    if isinstance(volume.get("configMap"), Mapping):
        yield ("ConfigMap", str(volume["configMap"].get("name", "")))
    if isinstance(volume.get("secret"), Mapping):
        yield ("Secret", str(volume["secret"].get("secretName", "")))
    projected = volume.get("projected")
    if isinstance(projected, Mapping):
        for source in _as_mappings(projected.get("sources")):
            if isinstance(source.get("configMap"), Mapping):
                yield ("ConfigMap", str(source["configMap"].get("name", "")))
            if isinstance(source.get("secret"), Mapping):
                yield ("Secret", str(source["secret"].get("name", "")))


def _container_refs(container: Mapping[str, Any]) -> Iterable[ConfigKey]:
    for env in _as_mappings(container.get("env")):
        source = env.get("valueFrom")
        if isinstance(source, Mapping):
            if isinstance(source.get("configMapKeyRef"), Mapping):
                yield ("ConfigMap", str(source["configMapKeyRef"].get("name", "")))
            if isinstance(source.get("secretKeyRef"), Mapping):
                yield ("Secret", str(source["secretKeyRef"].get("name", "")))
    for env_from in _as_mappings(container.get("envFrom")):
        if isinstance(env_from.get("configMapRef"), Mapping):
            yield ("ConfigMap", str(env_from["configMapRef"].get("name", "")))
        if isinstance(env_from.get("secretRef"), Mapping):
            yield ("Secret", str(env_from["secretRef"].get("name", "")))


def referenced_configs(pod_template: Mapping[str, Any]) -> set[ConfigKey]:
    """The ConfigMaps and Secrets a pod template uses (volumes, projected, env, envFrom)."""
    spec = pod_template.get("spec")
    if not isinstance(spec, Mapping):
        return set()
    found: set[ConfigKey] = set()
    for volume in _as_mappings(spec.get("volumes")):
        found.update(_volume_refs(volume))
    for key in ("containers", "initContainers"):
        for container in _as_mappings(spec.get(key)):
            found.update(_container_refs(container))
    return {ref for ref in found if ref[1]}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the same text for the same data in any key order."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def revision_hash(
    pod_template: Mapping[str, Any], configs: Mapping[ConfigKey, Mapping[str, Any]]
) -> str:
    """First 16 hex digits of sha256 over the template and the referenced configs' data.

    A referenced config absent from `configs` is simply left out.
    """
    used = sorted(referenced_configs(pod_template))
    payload = {
        "template": pod_template,
        "configs": [[kind, name, configs[(kind, name)]] for kind, name in used
                    if (kind, name) in configs],
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:16]
