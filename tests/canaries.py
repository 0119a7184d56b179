"""Flagger Canary YAML for tests that put a Canary into a repository, and the step that adds it
to one of the Flux layouts under tests/data/flux_layouts.

`canary_yaml` writes the exact block-style text the tests used to spell out one by one (their
expected FILE:LINE positions depend on it: the target's name stands at line 10, two lines further
down per annotation). Imported as a sibling (`from canaries import ...`) by the Flux, Helm and
repository-hardening tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"
HELM_EXAMPLE = "flux2-kustomize-helm-example"
PODINFO_BASE = "apps/base/podinfo"


def canary_yaml(name: str = "podinfo", namespace: str | None = "podinfo", *,
                target: str | None = None, annotations: Mapping[str, str] | None = None,
                target_port: str | None = None, hosts: Sequence[str] = (),
                interval: str = "1m") -> str:
    """A Canary on Deployment `target` (default: `name`), port 9898, threshold 5, maxWeight 50,
    stepWeight 10; no namespace line when `namespace` is None."""
    lines = ["apiVersion: flagger.app/v1beta1", "kind: Canary", "metadata:", f"  name: {name}"]
    if namespace is not None:
        lines.append(f"  namespace: {namespace}")
    if annotations:
        lines += ["  annotations:", *(f"    {key}: {value}" for key, value in annotations.items())]
    lines += ["spec:", "  targetRef:", "    apiVersion: apps/v1", "    kind: Deployment",
              f"    name: {target or name}", "  service:", "    port: 9898"]
    if target_port is not None:
        lines.append(f"    targetPort: {target_port}")
    if hosts:
        lines += ["    hosts:", *(f"      - {host}" for host in hosts)]
    lines += ["  analysis:", f"    interval: {interval}", "    threshold: 5", "    maxWeight: 50",
              "    stepWeight: 10"]
    return "\n".join(lines) + "\n"


def add_canary(folder: Path, text: str) -> None:
    """Write folder/canary.yaml and list it last in folder/kustomization.yaml's resources (the
    last key of every fixture kustomization the tests add a Canary to)."""
    (folder / "canary.yaml").write_text(text)
    kustomization = folder / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - canary.yaml\n")


def layout_with_canary(root: Path, text: str, layout: str = HELM_EXAMPLE) -> Path:
    """Copy tests/data/flux_layouts/`layout` into `root` (which may exist) and add the Canary
    `text` to its podinfo base; returns `root`."""
    shutil.copytree(LAYOUTS / layout, root, dirs_exist_ok=True)
    add_canary(root / PODINFO_BASE, text)
    return root
