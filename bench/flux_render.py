"""Flux render benchmark: one pass' render of a Flux layout when one Kustomization changed.

Run from a fresh checkout: `.venv/bin/python bench/flux_render.py` (options: `--kustomizations
50`, `--rounds 3`). Writes, in a temporary directory, a cluster `clusters/prod` with N Flux
Kustomizations `app000..`, each building `apps/<name>` (an overlay: a shared base, a namePrefix,
an image tag, a replicas patch, a targetNamespace). Each round edits one app's patch, then times
(interleaved) the full render (`render_repository` without a cache: what every pass did before)
and the incremental one (through a `RenderCache` that rendered the previous head), and checks
both give the same picture. Prints the median wall time of each and the kustomize builds run.
`--verify` times instead a FluxEditor's per-step verification (issue 13): one app's patch
written and reported to a tracked cache (`render.mirror`: only that file is copied, checked and
digested) against the same render after `unknown()` (the whole tree scanned, copied, checked
and digested again, what every verification did before); each timed render builds the one
edited Kustomization, and the updated copy's picture is checked against a fresh copy's.
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
from gitbot.adapters.render.mirror import Tracking

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


def timed(root: Path, cache: RenderCache) -> tuple[float, FluxView | None]:
    began = time.monotonic()
    view = render_repository(root, cache=cache)
    return time.monotonic() - began, view


def verify(count: int, rounds: int) -> None:
    """The `--verify` case (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="gitbot-bench-render-") as tmp:
        root = Path(tmp)
        names = write_layout(root, count)
        files = sum(1 for p in root.rglob("*") if p.is_file())
        cache = RenderCache(Tracking(root, lambda: "head", lambda _old, _new: None))
        began = time.monotonic()
        render_repository(root, cache=cache)
        print(f"{count} Flux Kustomizations, {files} files: first render "
              f"{time.monotonic() - began:.2f}s, {cache.builds} kustomize builds")
        full, incremental, copied = [], [], []
        for round_ in range(rounds):
            name = names[round_ % len(names)]
            replicas(root, name, 3 + round_)
            cache.changed([f"apps/{name}/replicas.yaml"])
            before = cache.mirror.copied
            seconds, fast = timed(root, cache)
            incremental.append(seconds)
            copied.append(cache.mirror.copied - before)
            cache.unknown()
            if picture(fast) != picture(render_repository(root, cache=cache)):
                raise SystemExit("the updated copy renders differently from a fresh copy")
            replicas(root, name, 100 + round_)
            cache.unknown()
            builds = cache.builds
            seconds, _ = timed(root, cache)
            full.append(seconds)
            assert cache.builds == builds + 1
        cache.close()
        print(f"one step verified (1 file written, 1 build), median of {rounds}: whole copy "
              f"{statistics.median(full):.3f}s ({files} files), updated copy "
              f"{statistics.median(incremental):.3f}s ({statistics.median(copied):g} file "
              f"copied), {statistics.median(full) / statistics.median(incremental):.1f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kustomizations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verify", action="store_true",
                        help="time a per-step verification (updated vs whole copy)")
    args = parser.parse_args()
    if args.verify:
        verify(args.kustomizations, args.rounds)
        return
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
