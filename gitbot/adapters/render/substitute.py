"""Flux's post-build variable substitution (`spec.postBuild`) on rendered objects.

kustomize-controller (fluxcd/pkg kustomize.SubstituteVariables) takes the variables of
`postBuild.substituteFrom` (ConfigMaps and Secrets in the Kustomization's namespace, in order,
newlines removed) and then `postBuild.substitute` (which wins), and when there is at least one,
serializes every object to YAML, expands `${var}` expressions and parses it back. Objects
labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone; `$${x}`
is the escape for a literal `${x}`. gitbot reads the ConfigMaps from the objects rendered so far
(what the cluster's Flux applied); a Secret cannot be read from the repository, so naming one is
an error that says which. Supported forms: `${var}`, `${var:=default}`, `${var=default}`,
`${var:-default}`, `${var-default}`; others are an error naming the expression.
Called by `gitbot.adapters.render.flux` for each Kustomization it renders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gitbot.adapters.render.kustomize import RenderError
from gitbot.adapters.render.model import FluxKustomization, RenderedObject
from gitbot.adapters.render.yamldocs import load_one

DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_EXPRESSION = re.compile(r"\$(\$?)\{([^}]*)\}")
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_DEFAULT = re.compile(r"^(?P<var>[_A-Za-z][_A-Za-z0-9]*)(?:(?P<op>:?[=-])(?P<default>.*))?$",
                      re.DOTALL)


def variables(kustomization: FluxKustomization,
              available: Iterable[RenderedObject]) -> dict[str, str]:
    """The variables Flux would substitute for `kustomization` ({} when none)."""
    post = kustomization.spec.get("postBuild") or {}
    if not isinstance(post, Mapping):
        raise RenderError(f"{kustomization.where()}: spec.postBuild: must be a mapping")
    found: dict[str, str] = {}
    refs = post.get("substituteFrom") or []
    secrets = [str(r.get("name")) for r in refs
               if isinstance(r, Mapping) and r.get("kind") == "Secret"]
    if secrets:
        raise RenderError(
            f"{kustomization.where()}: spec.postBuild.substituteFrom: Secret "
            + ", ".join(f"{kustomization.namespace}/{name}" for name in secrets)
            + ": gitbot cannot read Secrets from the repository, so it cannot render what Flux "
            "applies; move the variables gitbot's canaries need into a ConfigMap or "
            "postBuild.substitute")
    pool = list(available)
    for ref in refs:
        found.update(_config_map(kustomization, ref, pool))
    for key, value in (post.get("substitute") or {}).items():
        found[str(key)] = str(value).replace("\n", "")
    bad = sorted(name for name in found if not _NAME.match(name))
    if bad:
        raise RenderError(f"{kustomization.where()}: spec.postBuild: variable name {bad[0]!r} is "
                          "invalid, must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$")
    return found


def _config_map(kustomization: FluxKustomization, ref: Any,
                pool: list[RenderedObject]) -> dict[str, str]:
    if not isinstance(ref, Mapping) or ref.get("kind") != "ConfigMap" or not ref.get("name"):
        raise RenderError(f"{kustomization.where()}: spec.postBuild.substituteFrom: each entry "
                          "needs kind ConfigMap or Secret and a name")
    name = str(ref["name"])
    for item in pool:
        if (item.kind == "ConfigMap" and item.name == name
                and (item.namespace or "default") == kustomization.namespace):
            data = item.obj.get("data") or {}
            return {str(k): str(v).replace("\n", "") for k, v in data.items()}
    if ref.get("optional"):
        return {}
    raise RenderError(f"{kustomization.where()}: spec.postBuild.substituteFrom: ConfigMap "
                      f"{kustomization.namespace}/{name} is not rendered from the repository "
                      "(gitbot cannot see a ConfigMap created outside it); mark it optional or "
                      "declare it in the cluster directory")


def substitute(obj: Mapping[str, Any], values: Mapping[str, str],
               where: str) -> Mapping[str, Any]:
    """`obj` with its `${var}` expressions expanded as Flux does (unchanged without values).

    Flux expands the object's YAML text and parses it again, so a plain scalar that becomes
    `3` or `true` is a number or a boolean afterwards; each string is expanded and, when it
    would have been written plain, read back the same way.
    """
    if not values or _disabled(obj):
        return obj
    result = _walk(obj, values, where)
    return result if isinstance(result, Mapping) else obj


def _walk(node: Any, values: Mapping[str, str], where: str) -> Any:
    if isinstance(node, Mapping):
        return {_text(str(k), values, where) if isinstance(k, str) else k: _walk(v, values, where)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(item, values, where) for item in node]
    if isinstance(node, str) and "${" in node:
        expanded = _text(node, values, where)
        return _plain(expanded) if _writes_plain(node) else expanded
    return node


def _text(text: str, values: Mapping[str, str], where: str) -> str:
    """`text` expanded. Only the part up to its last `}` can hold an expression: cut there, an
    `${` without any `}` after it fails at once (else each one scans to the end of the text,
    quadratic in a hostile value of many `${`)."""
    if "${" not in text:
        return text
    end = text.rfind("}") + 1
    return _EXPRESSION.sub(lambda m: _expand(m, values, where), text[:end]) + text[end:]


def _writes_plain(text: str) -> bool:
    """Whether a YAML emitter writes `text` as a plain scalar (then Flux re-reads its type)."""
    return (text == text.strip() and "\n" not in text and ": " not in text and " #" not in text
            and not text.endswith(":") and text[:1] not in _INDICATORS)


def _plain(text: str) -> Any:
    loaded = load_one(text)
    return loaded if isinstance(loaded, str | int | float | bool) else text


def _disabled(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return any((meta.get(part) or {}).get(DISABLE_KEY) == "disabled"
               for part in ("labels", "annotations"))


def _expand(match: re.Match[str], values: Mapping[str, str], where: str) -> str:
    if match.group(1):  # $${x}: the escape for a literal ${x}
        return "${" + match.group(2) + "}"
    found = _DEFAULT.match(match.group(2))
    if found is None:
        raise RenderError(f"{where}: postBuild substitution: {match.group(0)!r} is not supported "
                          "by gitbot (only ${var} and ${var:=default} forms)")
    value = values.get(found["var"])
    op = found["op"] or ""
    if op and (value is None or (op.startswith(":") and value == "")):
        return found["default"]
    return value or ""
