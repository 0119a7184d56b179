"""The podinfo GitOps repository laid out like fluxcd/flux2-kustomize-helm-example, for the e2e.

Two clusters (`clusters/staging`, `clusters/production`) each apply `apps/<env>` through the
Flux Kustomization `apps`; both overlays build the base `apps/base/podinfo` (Namespace,
HelmRepository, HelmRelease `podinfo` of stefanprodan/podinfo's chart, and here the Canary) and
patch the release's values per environment, as upstream does. The production values pin the
image, so a release is a values change (`image.tag` in `apps/production/podinfo-values.yaml`).
`.sourceignore` is upstream's (everything but apps/, clusters/, infrastructure/ excluded).
Used by `gitbot.sim.gitops.create_gitops_repo(..., flux="helm")`; the product never imports it.
"""

from __future__ import annotations

import re

from gitbot.sim.gitops_flux import FLUX_KUSTOMIZATION, SOURCE_REF, set_first

CLUSTER = "clusters/production"
NAMESPACE = "podinfo"
VALUES_FILE = "apps/production/podinfo-values.yaml"
RELEASE_FILE = VALUES_FILE

SOURCEIGNORE = """\
# Flux ignore
# https://fluxcd.io/flux/components/source/gitrepositories/#excluding-files

# Exclude all
/*

# Include manifest directories
!/apps/
!/clusters/
!/infrastructure/
"""

APPS = FLUX_KUSTOMIZATION.format(
    spec=SOURCE_REF + "  path: ./apps/{env}\n  prune: true\n  wait: true\n  timeout: 5m0s\n")

GOTK_SYNC = "# This file will be generated automatically by flux boostrap.\n"

FLUX_SYSTEM = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-sync.yaml
"""

BASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: podinfo
resources:
  - namespace.yaml
  - repository.yaml
  - release.yaml
  - canary.yaml
"""

NAMESPACE_YAML = """\
apiVersion: v1
kind: Namespace
metadata:
  name: podinfo
  labels:
    toolkit.fluxcd.io/tenant: dev-team
"""

REPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 5m
  url: https://stefanprodan.github.io/podinfo
"""

HELM_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
"""

RELEASE = HELM_RELEASE + """\
  releaseName: podinfo
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
  interval: 50m
  install:
    remediation:
      retries: 3
  # Default values
  # https://github.com/stefanprodan/podinfo/blob/master/charts/podinfo/values.yaml
  values:
    redis:
      enabled: true
      repository: public.ecr.aws/docker/library/redis
      tag: 7.0.6
    ingress:
      enabled: true
      className: nginx
"""

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
{namespace}resources:
  - ../base/podinfo
patches:
  - path: podinfo-values.yaml
    target:
      kind: HelmRelease
"""

VALUES = HELM_RELEASE + """\
  chart:
    spec:
      version: "{version}"
{extra}  values:
{image}    ingress:
      hosts:
        - host: podinfo.{env}
          paths:
            - path: /
              pathType: ImplementationSpecific
"""

IMAGE = """\
    replicaCount: 2
    image:
      repository: ghcr.io/stefanprodan/podinfo
      tag: {tag}
"""

_TAG = re.compile(r"^(\s*tag:\s*)\d+\.\d+\.\d+\s*$", re.MULTILINE)


def files(canary: str, tag: str) -> dict[str, str]:
    """Repository-relative path -> text; `canary` is the Canary's YAML (namespace podinfo)."""
    out = {
        ".sourceignore": SOURCEIGNORE,
        "apps/base/podinfo/kustomization.yaml": BASE,
        "apps/base/podinfo/namespace.yaml": NAMESPACE_YAML,
        "apps/base/podinfo/repository.yaml": REPOSITORY,
        "apps/base/podinfo/release.yaml": RELEASE,
        "apps/base/podinfo/canary.yaml": canary,
        "apps/production/kustomization.yaml": OVERLAY.format(namespace=""),
        VALUES_FILE: VALUES.format(version=">=1.0.0", extra="", env="production",
                                   image=IMAGE.format(tag=tag)),
        "apps/staging/kustomization.yaml": OVERLAY.format(namespace="namespace: podinfo\n"),
        "apps/staging/podinfo-values.yaml": VALUES.format(
            version=">=1.0.0-alpha", extra="  test:\n    enable: false\n", env="staging",
            image=""),
    }
    for env in ("staging", "production"):
        out[f"clusters/{env}/apps.yaml"] = APPS.format(env=env)
        out[f"clusters/{env}/flux-system/gotk-sync.yaml"] = GOTK_SYNC
        out[f"clusters/{env}/flux-system/kustomization.yaml"] = FLUX_SYSTEM
    return out


def released(values: str, tag: str) -> str:
    """The production values releasing image `tag` (the first `tag:` line with a version is
    the image's: redis' tag lives in the base)."""
    return set_first(_TAG, values, tag)
