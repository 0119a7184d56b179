"""The podinfo GitOps repository laid out like stefanprodan/gitops-istio, for the Flux e2e tests.

A cluster directory `clusters/sim/` declares the Flux Kustomization `apps` (path `./apps`, which
has no kustomization.yaml: Flux generates one); `apps/podinfo/kustomization.yaml` releases by
`images: newTag` and injects an Istio sidecar with a JSON patch, as gitops-istio does. Used by
`gitbot.sim.gitops.create_gitops_repo(..., flux=True)`; the product never imports it. The
Flux Kustomization text and the release edit are shared with `gitbot.sim.gitops_helm`.
"""

from __future__ import annotations

import re

CLUSTER = "clusters/sim"
KUSTOMIZATION_FILE = "apps/podinfo/kustomization.yaml"
PROXY_IMAGE = "docker.io/istio/proxyv2:1.18.5"

RELEASE_FILE = KUSTOMIZATION_FILE

FLUX_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m0s
{spec}"""
SOURCE_REF = """\
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
APPS = FLUX_KUSTOMIZATION.format(spec="  path: ./apps\n  prune: true\n" + SOURCE_REF)

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


def set_first(pattern: re.Pattern[str], text: str, value: str) -> str:
    """`text` with the first match of `pattern` ending in `value` (group 1 kept)."""
    return pattern.sub(lambda m: f"{m.group(1)}{value}", text, count=1)


def released(kustomization: str, tag: str) -> str:
    """The kustomization text releasing `tag` (what Flux image automation writes)."""
    return set_first(_NEW_TAG, kustomization, tag)
