"""Config tracking rules: which ConfigMaps/Secrets get `-primary` copies, and the renaming.

Pure functions called by the config-copy adapter (`gitbot.adapters.configs`), the bootstrap
generator and `ManifestEditor.promote`. Like Flagger's config tracker, the primary Deployment
uses `<name>-primary` copies of the tracked configs, so a config change reaches the primary
only through a promotion. A config is tracked unless it is a Secret of another type than
Opaque/basic-auth/ssh-auth/TLS, is annotated `flagger.app/config-tracking: disabled*`, or is
SOPS-encrypted (a copy would break the SOPS MAC, so it stays shared).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from gitbot.core.revision import ConfigKey, canonical_json

CHECKSUM_ANNOTATION = "gitbot.io/config-checksum"
TRACKING_ANNOTATION = "flagger.app/config-tracking"
PAYLOAD_KEYS = ("data", "binaryData", "stringData")
TRACKED_SECRET_TYPES = frozenset({"Opaque", "kubernetes.io/basic-auth",
                                  "kubernetes.io/ssh-auth", "kubernetes.io/tls"})
PRIMARY_SUFFIX = "-primary"

# (holder key, name key) for each kind of reference; see `primary_config_refs`.
_VOLUME_REFS = (("configMap", "name", "ConfigMap"), ("secret", "secretName", "Secret"))
_PROJECTED_REFS = (("configMap", "name", "ConfigMap"), ("secret", "name", "Secret"))
_ENV_REFS = (("configMapKeyRef", "name", "ConfigMap"), ("secretKeyRef", "name", "Secret"))
_ENV_FROM_REFS = (("configMapRef", "name", "ConfigMap"), ("secretRef", "name", "Secret"))


def primary_name(name: str) -> str:
    return f"{name}{PRIMARY_SUFFIX}"


def _mappings(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _rename(holder: Any, refs: Iterable[tuple[str, str, str]],
            tracked: set[ConfigKey]) -> None:
    """Rename the reference(s) found under `holder` (a volume, env source, ...) in place."""
    for key, name_key, kind in refs:
        ref = holder.get(key)
        if not isinstance(ref, dict):
            continue
        name = ref.get(name_key)
        if isinstance(name, str) and (kind, name) in tracked:
            ref[name_key] = primary_name(name)


def _rename_container(container: Any, tracked: set[ConfigKey]) -> None:
    for env in _mappings(container.get("env")):
        if isinstance(env.get("valueFrom"), dict):
            _rename(env["valueFrom"], _ENV_REFS, tracked)
    for env_from in _mappings(container.get("envFrom")):
        _rename(env_from, _ENV_FROM_REFS, tracked)


def primary_config_refs(pod_template: Mapping[str, Any],
                        tracked: set[ConfigKey]) -> dict[str, Any]:
    """A deep copy of the pod template with every reference to a tracked config renamed.

    Volumes (configMap, secret, projected sources) and the env/envFrom of containers and
    init containers are renamed to `<name>-primary`; untracked references stay.
    """
    if isinstance(pod_template, dict):
        result: dict[str, Any] = copy.deepcopy(pod_template)
    else:
        result = _thaw(pod_template)
    spec = result.get("spec")
    if not isinstance(spec, dict):
        return result
    for volume in _mappings(spec.get("volumes")):
        _rename(volume, _VOLUME_REFS, tracked)
        projected = volume.get("projected")
        if isinstance(projected, dict):
            for source in _mappings(projected.get("sources")):
                _rename(source, _PROJECTED_REFS, tracked)
    for key in ("containers", "initContainers"):
        for container in _mappings(spec.get(key)):
            _rename_container(container, tracked)
    return result


def config_payload(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The data of a ConfigMap or Secret (data, binaryData, stringData), as far as present."""
    return {k: obj[k] for k in PAYLOAD_KEYS if k in obj}


def config_checksum(configs: Mapping[ConfigKey, Mapping[str, Any]]) -> str:
    """First 16 hex digits of sha256 over the tracked configs' data (order-independent)."""
    payload = [[kind, name, configs[(kind, name)]] for kind, name in sorted(configs)]
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:16]


def primary_pod_template(pod_template: Mapping[str, Any],
                         configs: Mapping[ConfigKey, Mapping[str, Any]]) -> dict[str, Any]:
    """The template with tracked references renamed and the config checksum annotation.

    `configs` maps each tracked config to its payload; without tracked configs the template
    is returned (as a copy) unchanged, without the annotation.
    """
    result = primary_config_refs(pod_template, set(configs))
    if not configs:
        return result
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        meta = result["metadata"] = type(result)()
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = type(result)()
    annotations[CHECKSUM_ANNOTATION] = config_checksum(configs)
    return result


def tracking_exclusion(kind: str, obj: Mapping[str, Any]) -> str | None:
    """Why a referenced config found in the repository is not tracked (None: it is tracked)."""
    if kind not in ("ConfigMap", "Secret"):
        return f"{kind} is not a ConfigMap or Secret"
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if isinstance(annotations, Mapping):
        value = annotations.get(TRACKING_ANNOTATION)
        if isinstance(value, str) and value.startswith("disable"):
            return f"annotated {TRACKING_ANNOTATION}: {value}"
    if "sops" in obj:
        return "encrypted with SOPS (a copy would break its MAC), shared with the primary"
    secret_type = obj.get("type")
    if kind == "Secret" and secret_type is not None and secret_type not in TRACKED_SECRET_TYPES:
        return f"Secret of type {secret_type} is not tracked"
    return None
