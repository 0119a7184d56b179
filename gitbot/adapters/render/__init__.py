"""The repository as Flux sees it: Flux Kustomizations rendered with real kustomize.

`render_repository(root, cluster)` -> `FluxView` (None for a plain repository); each
`RenderedObject` keeps its `Origin` (Kustomization, file, line, transformers).
`selecting_entries` (transformers.py) names the images/patch entries that select an object;
`effective_revision` hashes a rendered target's pod template with its configs.
"""

from gitbot.adapters.render.discovery import DiscoveryError
from gitbot.adapters.render.flux import render_repository
from gitbot.adapters.render.kustomize import RenderError
from gitbot.adapters.render.model import (
    FluxKustomization,
    FluxView,
    Origin,
    RenderedKustomization,
    RenderedObject,
    Transformer,
)
from gitbot.adapters.render.revision import effective_revision

__all__ = [
    "DiscoveryError",
    "FluxKustomization",
    "FluxView",
    "Origin",
    "RenderError",
    "RenderedKustomization",
    "RenderedObject",
    "Transformer",
    "effective_revision",
    "render_repository",
]
