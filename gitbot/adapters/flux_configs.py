"""`-primary` copies of the rendered ConfigMaps/Secrets a Flux canary's target uses.

As Flagger does, the primary references `<name>-primary` copies so that a config change reaches
it only through a promotion. In a Flux repository the copies are taken from the *rendered*
configs (a configMapGenerator's hashed name included: when the generator changes, Flux prunes
the old hashed ConfigMap, which the primary must therefore not use) and written to
`<target>-primary-configs.yaml` in gitbot's own directory; promotion rewrites that file with the
configs of the promoted template. Configs excluded by `tracking_exclusion` (SOPS, annotation,
secret types) stay shared. Called by `gitbot.adapters.flux_editor`.
"""

from __future__ import annotations

from typing import Any

from gitbot.adapters import bootstrap as generator
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.manifest_index import ManifestIndex
from gitbot.adapters.manifest_merge import plain
from gitbot.adapters.manifest_types import FieldChange
from gitbot.adapters.render import RenderedObject
from gitbot.adapters.yamlio import YamlFile
from gitbot.core.configrefs import config_payload, primary_name, tracking_exclusion
from gitbot.core.revision import ConfigKey, referenced_configs
from gitbot.core.routes import object_metadata
from gitbot.core.spec import Canary

Obj = dict[str, Any]
COPIED_KEYS = ("type", "data", "binaryData", "stringData")


def tracked(flux: FluxSpecs, target: RenderedObject) -> dict[ConfigKey, Obj]:
    """(kind, name) -> the rendered config, for every tracked config the template references."""
    template = (target.obj.get("spec") or {}).get("template") or {}
    owner = flux.owner(target)
    found: dict[ConfigKey, Obj] = {}
    for kind, name in sorted(referenced_configs(template)):
        rendered = owner.find(kind, name, target.namespace) or flux.view.find(
            kind, name, target.namespace)
        if rendered and tracking_exclusion(kind, rendered[0].obj) is None:
            found[(kind, name)] = plain(rendered[0].obj)
    return found


def payloads(configs: dict[ConfigKey, Obj]) -> dict[ConfigKey, dict[str, Any]]:
    return {key: config_payload(obj) for key, obj in configs.items()}


def copies(configs: dict[ConfigKey, Obj], namespace: str) -> list[Obj]:
    """The `-primary` copies, sorted by kind and name."""
    out = []
    for (kind, name), obj in sorted(configs.items()):
        copy: Obj = {"apiVersion": obj.get("apiVersion", "v1"), "kind": kind,
                     "metadata": object_metadata(primary_name(name), namespace, {}, {})}
        copy.update((k, obj[k]) for k in COPIED_KEYS if k in obj)
        out.append(copy)
    return out


def file_name(canary: Canary) -> str:
    return f"{canary.target.name}-primary-configs.yaml"


def write(index: ManifestIndex, canary: Canary, rel: str,
          configs: dict[ConfigKey, Obj]) -> list[FieldChange]:
    """Make file `rel` hold exactly the copies of `configs` (none: the file is left alone)."""
    objs = copies(configs, canary.namespace)
    if not objs:
        return []
    text = generator.render_file(canary, objs)
    old = index.files.get(rel)
    if old is None and (index.root / rel).is_file():
        old = YamlFile.read(index.root, rel)
    if old is not None and old.original == text:
        return []
    new = YamlFile.create(index.root, rel, text)
    if old is not None:
        new.original, new.is_new, new.rewritten = old.original, False, True
    index.files[rel] = new
    index.entries = [e for e in index.entries if e.file.rel != rel]
    index.add_file(new)
    return [FieldChange(rel, o["kind"], canary.namespace, o["metadata"]["name"], "",
                        None, "<data>" if o["kind"] == "Secret" else o) for o in objs]
