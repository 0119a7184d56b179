"""Flux render benchmark: one pass' render of a Flux layout when one Kustomization changed.

Run from a fresh checkout: `.venv/bin/python bench/flux_render.py` (options: `--kustomizations
50`, `--rounds 3`). Writes, in a temporary directory, a cluster `clusters/prod` with N Flux
Kustomizations `app000..`, each building `apps/<name>` (an overlay: a shared base, a namePrefix,
an image tag, a replicas patch, a targetNamespace). Each round edits one app's patch, then times
(interleaved) the full render (`render_repository` without a cache: what every pass did before)
and the incremental one (through a `RenderCache` that rendered the previous head), and checks
both give the same picture. Prints the median wall time of each and the kustomize builds run.
Reports numbers, asserts only that the pictures are equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitbot.adapters.render import FluxView, render_repository
from gitbot.adapters.render.cache import RenderCache

BASE = """apiVersion: apps/v1
kind: Deployment
metadata: {name: app, labels: {app: app}}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: "ghcr.io/example/app:1.0.0"}]
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {selector: {app: app}, ports: [{port: 80}]}
"""
FLUX = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 10m
  path: ./apps/{name}
  prune: true
  targetNamespace: {name}
  sourceRef: {{kind: GitRepository, name: flux-system}}
"""


def write_layout(root: Path, count: int) -> list[str]:
    """The layout described in the module docstring; the apps' names."""
    (root / "clusters/prod").mkdir(parents=True)
    (root / "base/app").mkdir(parents=True)
    (root / "base/app/kustomization.yaml").write_text("resources: [app.yaml]\n")
    (root / "base/app/app.yaml").write_text(BASE)
    names = [f"app{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        app = root / "apps" / name
        app.mkdir(parents=True)
        (app / "kustomization.yaml").write_text(
            f"resources: [../../base/app]\nnamePrefix: {name}-\n"
            f"images: [{{name: ghcr.io/example/app, newTag: '1.{i}.0'}}]\n"
            "patches: [{path: replicas.yaml}]\n")
        replicas(root, name, 2)
        (root / "clusters/prod" / f"{name}.yaml").write_text(FLUX.format(name=name))
    return names


def replicas(root: Path, name: str, count: int) -> None:
    (root / "apps" / name / "replicas.yaml").write_text(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\n"
        f"spec: {{replicas: {count}}}\n")


def picture(view: FluxView | None) -> Any:
    assert view is not None
    return [(r.kustomization, [(o.obj, o.origin) for o in r.objects])
            for r in view.kustomizations]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kustomizations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitbot-bench-render-") as tmp:
        root = Path(tmp)
        names = write_layout(root, args.kustomizations)
        cache = RenderCache()
        began = time.monotonic()
        render_repository(root, cache=cache)
        print(f"{args.kustomizations} Flux Kustomizations (+ the cluster's): first render "
              f"{time.monotonic() - began:.2f}s, {cache.builds} kustomize builds")
        full, incremental, builds = [], [], []
        for round_ in range(args.rounds):
            replicas(root, names[round_ % len(names)], 3 + round_)
            before = cache.builds
            began = time.monotonic()
            fast = render_repository(root, cache=cache)
            incremental.append(time.monotonic() - began)
            builds.append(cache.builds - before)
            began = time.monotonic()
            slow = render_repository(root)
            full.append(time.monotonic() - began)
            if picture(fast) != picture(slow):
                raise SystemExit("the incremental render differs from the full render")
        print(f"one Kustomization changed, median of {args.rounds}: full render "
              f"{statistics.median(full):.2f}s ({len(names) + 1} builds), incremental "
              f"{statistics.median(incremental):.2f}s ({statistics.median(builds):g} build), "
              f"{statistics.median(full) / statistics.median(incremental):.0f}x faster")


if __name__ == "__main__":
    main()
