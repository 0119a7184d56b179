"""The revision of the effective (rendered) target changes with every release mechanism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitbot.adapters.render import effective_revision, render_repository

FILES = {
    "clusters/prod/app.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
spec:
  interval: 10m
  path: ./app/overlay
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  targetNamespace: prod
""",
    "app/base/kustomization.yaml": """\
resources: [deployment.yaml, service.yaml]
configMapGenerator:
  - name: app-config
    literals: [LEVEL=info]
""",
    "app/base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/app:1.0.0
          envFrom:
            - configMapRef: {name: app-config}
""",
    "app/base/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector: {app: app}
  ports: [{port: 80}]
""",
    "app/overlay/kustomization.yaml": """\
resources: [../base]
images:
  - name: ghcr.io/acme/app
    newTag: 1.1.0
patches:
  - target: {kind: Deployment, name: app}
    patch: |
      - op: add
        path: /spec/template/metadata/annotations
        value: {sidecar.istio.io/inject: "true"}
""",
}


def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    return apply


def revision(root: Path) -> str:
    view = render_repository(root)
    assert view is not None
    rendered = view.by_name("flux-system/app")
    return effective_revision(rendered, rendered.find("Deployment", "app", "prod")[0])


@pytest.mark.parametrize(("change", "differs"), [
    pytest.param(_edit("app/overlay/kustomization.yaml", "newTag: 1.1.0", "newTag: 1.2.0"),
                 True, id="images-newTag-bump"),
    pytest.param(_edit("app/overlay/kustomization.yaml", 'inject: "true"', 'inject: "false"'),
                 True, id="patch-change"),
    pytest.param(_edit("app/base/kustomization.yaml", "LEVEL=info", "LEVEL=debug"),
                 True, id="configmap-generator-change"),
    pytest.param(_edit("app/base/deployment.yaml", "1.0.0", "1.0.1"),
                 False, id="file-tag-overridden-by-images-is-no-release"),
    pytest.param(_edit("app/base/service.yaml", "port: 80", "port: 8080"),
                 False, id="service-change-is-no-release"),
])
def test_revision_of_the_effective_target(tmp_path: Path, change: Callable[[Path], None],
                                          differs: bool) -> None:
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    before = revision(tmp_path)
    assert revision(tmp_path) == before  # stable for the same repository
    change(tmp_path)
    assert (revision(tmp_path) != before) is differs
