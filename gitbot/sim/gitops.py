"""A GitOps repository for the demo and the end-to-end tests: podinfo and its Canary.

`create_gitops_repo` makes a bare remote in a directory with the podinfo app (a kustomize
directory with a Deployment, an HPA and a Canary copied from Flagger's podinfo tutorial) and
returns a `Developer`, the person who releases new versions by pushing commits.
Used by `gitbot demo` and tests; the product itself never imports it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitbot.sim import gitops_flux, gitops_helm

IMAGE = "ghcr.io/stefanprodan/podinfo"
RELEASE_FILE = "apps/podinfo/deployment.yaml"

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: test
resources:
  - deployment.yaml
  - canary.yaml
"""

DEPLOYMENT = """\
# podinfo: the app under progressive delivery. Release by changing the image tag.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  labels:
    app: podinfo
spec:
  replicas: 2
  minReadySeconds: 3
  revisionHistoryLimit: 5
  progressDeadlineSeconds: 60
  strategy:
    rollingUpdate:
      maxUnavailable: 0
    type: RollingUpdate
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9797"
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfod
          image: {image}:{tag}
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 9898
              protocol: TCP
          command:
            - ./podinfo
            - --port=9898
            - --level=info
          resources:
            limits:
              cpu: 2000m
              memory: 512Mi
            requests:
              cpu: 100m
              memory: 64Mi
"""


@dataclass
class CanaryOptions:
    """The knobs tests turn; the defaults are Flagger's podinfo tutorial, sped up."""

    interval: str = "10s"
    threshold: int = 5
    max_weight: int = 50
    step_weight: int = 10
    iterations: int = 0
    metric_interval: str = "6s"
    success_min: float = 99
    duration_max: float = 500
    match: str = ""  # YAML block for analysis.match (A/B)
    mirror: bool = False
    session_cookie: str = ""
    skip_analysis: bool = False
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    alert_url: str = ""  # a Slack-compatible endpoint; adds an AlertProvider + alerts entry
    progress_deadline: int = 60

    def render(self) -> str:
        analysis = [
            f"    interval: {self.interval}",
            f"    threshold: {self.threshold}",
        ]
        if self.iterations:
            analysis.append(f"    iterations: {self.iterations}")
        else:
            analysis += [f"    maxWeight: {self.max_weight}", f"    stepWeight: {self.step_weight}"]
        if self.match:
            analysis.append("    match:\n" + self.match.rstrip("\n"))
        if self.mirror:
            analysis.append("    mirror: true")
        if self.session_cookie:
            analysis.append(f"    sessionAffinity:\n      cookieName: {self.session_cookie}")
        analysis.append(_metrics_block(self))
        if self.webhooks:
            analysis.append(_webhooks_block(self.webhooks))
        if self.alert_url:
            analysis.append(
                "    alerts:\n      - name: on-call\n        severity: info\n"
                "        providerRef:\n          name: on-call"
            )
        skip = "  skipAnalysis: true\n" if self.skip_analysis else ""
        return CANARY_HEAD.format(deadline=self.progress_deadline, skip=skip) + "\n".join(
            analysis
        ) + "\n" + (ALERT_PROVIDER.format(url=self.alert_url) if self.alert_url else "")


CANARY_HEAD = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: {deadline}
{skip}  service:
    port: 9898
    targetPort: 9898
    gateways:
    - public-gateway.istio-system.svc.cluster.local
    hosts:
    - app.example.com
    trafficPolicy:
      tls:
        mode: DISABLE
    retries:
      attempts: 3
      perTryTimeout: 1s
      retryOn: "gateway-error,connect-failure,refused-stream"
  analysis:
"""

ALERT_PROVIDER = """\
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata:
  name: on-call
  namespace: test
spec:
  type: slack
  channel: on-call
  username: gitbot
  address: {url}
"""


def released(deployment: str, tag: str) -> str:
    """The Deployment text running podinfo `tag`."""
    old = next(line for line in deployment.splitlines() if f"image: {IMAGE}:" in line)
    return deployment.replace(old, old.split(":", 1)[0] + f": {IMAGE}:{tag}")


def _metrics_block(o: CanaryOptions) -> str:
    return (
        "    metrics:\n"
        "    - name: request-success-rate\n"
        f"      thresholdRange:\n        min: {o.success_min:g}\n"
        f"      interval: {o.metric_interval}\n"
        "    - name: request-duration\n"
        f"      thresholdRange:\n        max: {o.duration_max:g}\n"
        f"      interval: {o.metric_interval}"
    )


def _webhooks_block(hooks: list[dict[str, Any]]) -> str:
    lines = ["    webhooks:"]
    for hook in hooks:
        lines.append(f"      - name: {hook['name']}")
        for key in ("type", "url", "timeout"):
            if key in hook:
                lines.append(f"        {key}: {hook[key]}")
    return "\n".join(lines)


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


class Developer:
    """A person with a clone of the GitOps repository who releases versions."""

    def __init__(self, remote: Path, clone: Path, branch: str = "main",
                 flux: bool | str = False) -> None:
        self.remote = remote
        self.clone = clone
        self.branch = branch
        self.flux = flux  # like gitops-istio: releases bump `images: newTag`; "helm": values

    def pull(self) -> None:
        _git(self.clone, "fetch", "-q", "origin")
        _git(self.clone, "reset", "-q", "--hard", f"origin/{self.branch}")

    def commit_files(self, files: dict[str, str], message: str) -> str:
        """Write files, commit as the developer and push (pulling first)."""
        self.pull()
        for rel, content in files.items():
            path = self.clone / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        _git(self.clone, "add", "-A")
        _git(self.clone, "commit", "-q", "-m", message)
        _git(self.clone, "push", "-q", "origin", f"HEAD:{self.branch}")
        return _git(self.clone, "rev-parse", "HEAD")

    def release(self, tag: str) -> str:
        """Bump podinfo's image tag, as a person merging a release would: the Deployment's
        image, or the layout's release file (`images: newTag`, the HelmRelease values)."""
        layout = gitops_helm if self.flux == "helm" else gitops_flux if self.flux else None
        rel, edit = (layout.RELEASE_FILE, layout.released) if layout else (RELEASE_FILE, released)
        return self.commit_files({rel: edit(self.read(rel), tag)}, f"Release podinfo {tag}")

    def read(self, rel: str) -> str:
        self.pull()
        return (self.clone / rel).read_text(encoding="utf-8")

    def log_graph(self) -> str:
        self.pull()
        return _git(self.clone, "log", "--graph", "--oneline", "--decorate=no", self.branch)

    def log_subjects(self) -> list[str]:
        self.pull()
        return _git(self.clone, "log", "--first-parent", "--format=%s", self.branch).splitlines()


def create_gitops_repo(
    base: Path, *, options: CanaryOptions | None = None, tag: str = "6.0.0",
    flux: bool | str = False,
) -> Developer:
    """A bare remote `base/gitops.git` with the podinfo app; returns its Developer.

    `flux`: laid out like gitops-istio (`gitbot.sim.gitops_flux`): a Flux Kustomization, an
    `images:` newTag release and a patch-injected sidecar; "helm": laid out like
    flux2-kustomize-helm-example (`gitbot.sim.gitops_helm`), podinfo deployed by a HelmRelease."""
    options = options or CanaryOptions()
    remote = base / "gitops.git"
    clone = base / "developer"
    _git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    _git(base, "clone", "-q", str(remote), str(clone))
    for key, value in (("user.name", "Dana Developer"), ("user.email", "dana@example.com")):
        _git(clone, "config", key, value)
    files = {
        "README.md": "# gitops\n\nThe cluster's desired state. Flux applies `main`.\n",
        "apps/podinfo/kustomization.yaml": KUSTOMIZATION,
        "apps/podinfo/deployment.yaml": DEPLOYMENT.format(image=IMAGE, tag=tag),
        "apps/podinfo/canary.yaml": options.render(),
    }
    if flux == "helm":
        files = {"README.md": files["README.md"], **gitops_helm.files(
            options.render().replace("namespace: test", f"namespace: {gitops_helm.NAMESPACE}"),
            tag)}
    elif flux:
        del files["apps/podinfo/kustomization.yaml"]
        files.update(gitops_flux.files(DEPLOYMENT.format(image=IMAGE, tag="5.0.0"),
                                       options.render(), tag))
    for rel, content in files.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(content, encoding="utf-8")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", f"Add podinfo {tag} with a Canary")
    _git(clone, "push", "-q", "origin", "HEAD:main")
    return Developer(remote, clone, flux=flux)
