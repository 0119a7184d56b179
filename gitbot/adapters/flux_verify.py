"""Render, edit, render, verify: what Flux would apply is exactly what gitbot decided.

Called by `FluxEditor.save` after writing its edits and before any commit. Renders the served
cluster again (real kustomize, `gitbot.adapters.render`; through the pass' `RenderCache` when
the SpecSet has one, so only the Kustomizations whose inputs the edit changed are built) and
reads each checked value from the rendered object; a mismatch raises `OverriddenError` naming
the images/patch entries (file:line) that select the object, so the reconciler reports it and
commits nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.render import render_repository
from gitbot.adapters.render.transformers import selecting_entries
from gitbot.errors import InvalidInputError


class OverriddenError(InvalidInputError):
    """A transformer or patch of the repository would override gitbot's change."""


@dataclass(frozen=True)
class Check:
    """One decided value: object, dotted field for messages, value, how to read it."""

    kind: str
    namespace: str
    name: str
    field: str
    want: Any
    read: Callable[[Mapping[str, Any]], Any]


def verify(root: Path, flux: FluxSpecs, checks: list[Check]) -> None:
    """Render the cluster from `root` and compare every check; OverriddenError on a mismatch."""
    view = render_repository(root, flux.view.cluster, cache=flux.cache,
                             remote_bases=flux.remote_bases)
    if view is None:
        raise OverriddenError(f"{flux.view.cluster}: no Flux Kustomization left after the edit")
    for check in checks:
        found = view.find(check.kind, check.name, check.namespace or None)
        subject = f"{check.kind} {check.namespace}/{check.name}"
        if not found:
            raise OverriddenError(
                f"{subject}: not rendered by any Flux Kustomization of {view.cluster} after "
                "gitbot's edit (is its directory excluded by .sourceignore?"
                + "".join(f"; {p}" for p in view.problems) + "); nothing committed")
        obj = found[0]
        got = check.read(obj.obj)
        if got == check.want:
            continue
        rendered = view.by_name(obj.origin.kustomization)
        entries = [e for e in selecting_entries(root, rendered, obj)  # images: only templates
                   if check.field.startswith("spec.template") or "images[" not in e.field]
        by = "; ".join(e.where() for e in entries) or (
            f"a transformer of {rendered.kustomization.where()}")
        by = f"one of {by}" if len(entries) > 1 else by
        raise OverriddenError(
            f"{obj.origin.where()}: {subject}: {check.field}: gitbot set {_short(check.want)} "
            f"but Flux would apply {_short(got)}, overridden by {by}; nothing committed")


def _short(value: Any) -> str:
    return "a different value" if isinstance(value, dict | list) else repr(value)
