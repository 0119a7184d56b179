"""The revision of a canary's *effective* target: what Flux applies, not what a file says.

`effective_revision(rendered, target)` hashes the rendered pod template (after images,
patches, namespace, name-reference rewrites such as a configMapGenerator's hash suffix) with
the rendered ConfigMaps/Secrets it references, using the pure `gitbot.core.revision`. So a
release by `images: newTag`, by a patch, or by a generator change is a new revision. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitbot.adapters.render.model import RenderedKustomization, RenderedObject
from gitbot.core.revision import ConfigKey, referenced_configs, revision_hash


def pod_template(target: RenderedObject) -> Mapping[str, Any]:
    template = (target.obj.get("spec") or {}).get("template")
    if not isinstance(template, Mapping):
        raise ValueError(f"{target.origin.where()}: {target.kind} {target.name}: "
                         "spec.template: missing")
    return template


def effective_revision(rendered: RenderedKustomization, target: RenderedObject) -> str:
    """16 hex digits over the target's rendered pod template and the configs it uses."""
    template = pod_template(target)
    configs: dict[ConfigKey, Mapping[str, Any]] = {}
    for kind, name in referenced_configs(template):
        for item in rendered.find(kind, name, target.namespace):
            configs[(kind, name)] = {"data": item.obj.get("data") or {},
                                     "binaryData": item.obj.get("binaryData") or {},
                                     "stringData": item.obj.get("stringData") or {}}
    return revision_hash(template, configs)
