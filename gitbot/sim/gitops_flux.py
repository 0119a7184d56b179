"""The podinfo GitOps repository laid out like stefanprodan/gitops-istio, for the Flux e2e tests.

A cluster directory `clusters/sim/` declares the Flux Kustomization `apps` (path `./apps`, which
has no kustomization.yaml: Flux generates one); `apps/podinfo/kustomization.yaml` releases by
`images: newTag` and injects an Istio sidecar with a JSON patch, as gitops-istio does. Used by
`gitbot.sim.gitops.create_gitops_repo(..., flux=True)`; the product never imports it.
"""

from __future__ import annotations

import re

CLUSTER = "clusters/sim"
KUSTOMIZATION_FILE = "apps/podinfo/kustomization.yaml"
PROXY_IMAGE = "docker.io/istio/proxyv2:1.18.5"

APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: test
resources:
  - deployment.yaml
  - canary.yaml
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: {tag}
patches:
  - path: sidecar.patch.yaml
    target:
      kind: Deployment
      name: podinfo
"""

SIDECAR_PATCH = f"""\
- op: add
  path: /spec/template/metadata/labels/security.istio.io~1tlsMode
  value: istio
- op: add
  path: /spec/template/spec/containers/1
  value:
    name: istio-proxy
    image: {PROXY_IMAGE}
    ports:
      - containerPort: 15090
        name: http-envoy-prom
        protocol: TCP
"""

_NEW_TAG = re.compile(r"^(\s*newTag:\s*).*$", re.MULTILINE)


def files(deployment: str, canary: str, tag: str) -> dict[str, str]:
    """Repository-relative path -> text; the Deployment file keeps an old tag (`images:` wins)."""
    return {
        f"{CLUSTER}/apps.yaml": APPS,
        KUSTOMIZATION_FILE: KUSTOMIZATION.format(tag=tag),
        "apps/podinfo/sidecar.patch.yaml": SIDECAR_PATCH,
        "apps/podinfo/deployment.yaml": deployment,
        "apps/podinfo/canary.yaml": canary,
    }


def with_new_tag(kustomization: str, tag: str) -> str:
    """The kustomization text releasing `tag` (what Flux image automation writes)."""
    return _NEW_TAG.sub(lambda m: f"{m.group(1)}{tag}", kustomization, count=1)
