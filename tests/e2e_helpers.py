"""Helpers for the end-to-end tests: read what the GitOps repository declares at its head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.specs import load_repository
from gitbot.core.state import Traffic
from gitbot.sim.world import World


@dataclass
class Head:
    """What `main` declares: routing, replicas and images."""

    traffic: Traffic | None
    canary_replicas: int | None
    primary_image: str
    canary_image: str
    vs: dict[str, Any]


def head(world: World) -> Head:
    world.dev.pull()
    root = world.dev.clone
    canary = load_repository(root).canaries[0]
    editor = ManifestEditor(root)
    primary = editor.get("Deployment", "test", "podinfo-primary") or {}
    target = editor.get("Deployment", "test", "podinfo") or {}
    return Head(
        traffic=editor.get_traffic(canary),
        canary_replicas=editor.get_replicas("test", "podinfo"),
        primary_image=_image(primary),
        canary_image=_image(target),
        vs=editor.get("VirtualService", "test", "podinfo") or {},
    )


def _image(deployment: dict[str, Any]) -> str:
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get(
        "containers", []
    )
    return str(containers[0]["image"]) if containers else ""


def events(world: World) -> list[str]:
    return [e.message for e in world.state().events]


def initialize(world: World) -> None:
    world.run_until({"Initialized"}, timeout=60)
