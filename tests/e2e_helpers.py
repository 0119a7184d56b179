"""Helpers for the end-to-end tests: read what the GitOps repository declares at its head (or
Flux renders at a commit), the commit subjects of podinfo's successful rollout, run gitbot's
command line as a real process on a World, and bring a rollout to a promotion gate."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.render import FluxView, render_repository
from gitbot.adapters.specs import load_repository
from gitbot.core.state import Traffic
from gitbot.sim.gitops import CanaryOptions
from gitbot.sim.world import World

#: gitbot's commits of podinfo's rollout up to the promotion (maxWeight 50, stepWeight 10) ...
STEP_SUBJECTS = [
    "podinfo.test: scale up canary",
    "podinfo.test: advance canary weight 10",
    "podinfo.test: advance canary weight 20",
    "podinfo.test: advance canary weight 30",
    "podinfo.test: advance canary weight 40",
    "podinfo.test: advance canary weight 50",
]
#: ... and of its promotion.
PROMOTION_SUBJECTS = [
    "podinfo.test: promote: copy podinfo template spec to podinfo-primary",
    "podinfo.test: route all traffic to primary",
    "podinfo.test: scale down canary",
]


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


def render_commit(clone: Path, sha: str, into: Path, cluster: str | None = None) -> FluxView:
    """The repository at `sha` (extracted into `into`) as Flux renders it for `cluster`."""
    archive = subprocess.run(["git", "-C", str(clone), "archive", sha], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    view = render_repository(into, cluster)
    assert view is not None
    return view


def events(world: World) -> list[str]:
    return [e.message for e in world.state().events]


def initialize(world: World) -> None:
    world.run_until({"Initialized"}, timeout=60)


def gitbot(world: World, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    """`python -m gitbot --config <the world's config> ARGS` as a real process."""
    cmd = [sys.executable, "-m", "gitbot", "--config", str(world.config_path), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def reconcile_process(world: World, point: str = "") -> int:
    """One `gitbot reconcile --once` process; killed (exit 86) the first time it reaches the
    crash point `point` when one is given."""
    proc = gitbot(world, "reconcile", "--once",
                  env=dict(os.environ, GITBOT_CRASH_AT=point) if point else None)
    if proc.returncode not in (0, 86):
        raise AssertionError(proc.stderr)
    return proc.returncode


@contextmanager
def waiting_at_the_gate(tmp_path: Path) -> Iterator[World]:
    """A World whose rollout of 6.0.1 (maxWeight 20) waits for promotion at a confirm-promotion
    gate that never opens by itself (the inbox answers 403)."""
    options = CanaryOptions(
        max_weight=20,
        webhooks=[{"name": "promotion-gate", "type": "confirm-promotion", "url": "INBOX/halt"}],
    )
    with World(tmp_path, options=options) as world:
        world.inbox.status = 403
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"WaitingPromotion"})
        yield world
