"""A whole world on one machine: the GitOps remote, the simulated cluster, a real Prometheus,
a recording chat/webhook inbox, and gitbot configured against them.

Used by `gitbot demo` and the end-to-end tests, which drive gitbot one pass at a time with
`World.reconcile()` (the same code path as `gitbot reconcile --once`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gitbot.config import load_settings
from gitbot.core.state import RolloutState
from gitbot.reconciler import PassReport
from gitbot.sim import gitops_helm
from gitbot.sim.cluster import SimCluster
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.sim.inbox import Inbox
from gitbot.sim.prometheus import PrometheusServer
from gitbot.sim.scenario import Scenario
from gitbot.status import status_object
from gitbot.wiring import App, build_app

DEFAULT_SCENARIO: dict[str, Any] = {
    "defaults": {"error_rate": 0.0, "latency_ms": {"p50": 15, "p99": 60}, "ready_after": "1s"},
    "images": {
        "podinfo:6.0.0": {},
        "podinfo:6.0.1": {},
        "podinfo:6.0.2": {"error_rate": 0.30},
        "podinfo:6.0.3": {"latency_ms": {"p50": 400, "p99": 900}},
        "podinfo:6.0.4": {"ready_after": "600s"},  # never becomes ready in a test's time
    },
}

CONFIG = """\
# Written by gitbot's simulated world: a local bare remote and a local Prometheus.
git:
  url: {remote}
  branch: main
  mode: {mode}
  workdir: {workdir}
  author:
    name: gitbot
    email: gitbot@example.com
prometheus:
  url: {prometheus}
  timeout: 5
lease:  # one gitbot at a time; a killed one is restarted within a pass, so a short lease
  duration: 2s
  clockSkew: 0s
"""


class World:
    """Context manager: starts everything in `__enter__`, stops everything in `__exit__`."""

    def __init__(
        self,
        base: Path,
        *,
        options: CanaryOptions | None = None,
        scenario: dict[str, Any] | None = None,
        flux_interval: float = 0.5,
        request_rate: float = 40.0,
        loadtest_rate: float = 0.0,
        ab_share: float = 0.2,
        crash: Callable[[str], None] | None = None,
        pace: float = 3.0,
        mode: str = "push",
        extra_config: Callable[[World], str] | None = None,
        flux: bool | str = False,
    ) -> None:
        self.base = base
        self.options = options or CanaryOptions()
        self.scenario = Scenario.from_mapping(scenario or DEFAULT_SCENARIO)
        self.flux_interval = flux_interval
        self.request_rate = request_rate
        self.loadtest_rate = loadtest_rate
        self.ab_share = ab_share
        self.crash = crash
        self.pace = pace  # seconds between passes: the daemon's analysis interval, sped up
        self.mode = mode  # git.mode
        self.extra_config = extra_config  # more config.yaml (forge, pullRequests), once started
        self.flux = flux  # laid out like gitops-istio (gitbot.sim.gitops_flux); "helm": like
        # flux2-kustomize-helm-example (gitbot.sim.gitops_helm), gitbot serving production
        self.key = f"{gitops_helm.NAMESPACE}/podinfo" if flux == "helm" else "test/podinfo"
        self.flux_cluster = gitops_helm.CLUSTER if flux == "helm" else None
        self._stack = ExitStack()
        self.inbox: Inbox
        self.dev: Developer
        self.cluster: SimCluster
        self.prometheus: PrometheusServer
        self.app: App
        self.config_path = base / "config.yaml"

    def __enter__(self) -> World:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.inbox = self._stack.enter_context(Inbox())
        if self.options.alert_url == "inbox":
            self.options.alert_url = f"{self.inbox.url}/slack"
        for hook in self.options.webhooks:  # "INBOX/path" points a webhook at the inbox
            hook["url"] = str(hook["url"]).replace("INBOX", self.inbox.url)
        self.dev = create_gitops_repo(self.base, options=self.options, flux=self.flux)
        self.cluster = self._stack.enter_context(
            SimCluster(
                str(self.dev.remote), "main", scenario=self.scenario,
                flux_interval=self.flux_interval, request_rate=self.request_rate,
                ab_share=self.ab_share, loadtest_rate=self.loadtest_rate,
                flux_cluster=self.flux_cluster,
            )
        )
        self.prometheus = self._stack.enter_context(
            PrometheusServer([self.cluster.metrics_address])
        )
        self.prometheus.wait_for_data("kube_deployment_spec_replicas", timeout=60)
        self._write_config()
        self.app = build_app(load_settings(self.config_path), crash=self.crash)
        self._stack.callback(lambda: self.app.close())

    def _write_config(self) -> None:
        self.config_path.write_text(
            CONFIG.format(
                remote=self.dev.remote, workdir=self.base / "gitbot-work",
                prometheus=self.prometheus.url, mode=self.mode,
            ) + (f"flux:\n  cluster: {self.flux_cluster}\n" if self.flux_cluster else "")
            + (self.extra_config(self) if self.extra_config else ""),
            encoding="utf-8",
        )

    def reconfigure(self, mode: str, extra_config: Callable[[World], str] | None = None) -> None:
        """Switch gitbot to another `git.mode` (and forge settings) on the same repository."""
        self.mode, self.extra_config = mode, extra_config
        self._write_config()
        old, self.app = self.app, build_app(load_settings(self.config_path), crash=self.crash)
        old.close()

    def reconcile(self) -> PassReport:
        """One `reconcile --once` pass."""
        return self.app.reconciler.run_pass()

    def state(self, key: str = "") -> RolloutState:
        return self.app.store.load(key or self.key) or RolloutState()

    def status(self, key: str = "") -> dict[str, Any]:
        namespace, name = (key or self.key).split("/", 1)
        return status_object(name, namespace, self.state(key))

    def run_until(
        self,
        phases: Iterable[str],
        *,
        timeout: float = 240.0,
        pause: float | None = None,
        on_pass: Callable[[PassReport], None] | None = None,
    ) -> list[PassReport]:
        """Reconcile pass after pass until the canary reaches one of `phases`."""
        wanted = set(phases)
        reports: list[PassReport] = []
        deadline = time.monotonic() + timeout
        while True:
            report = self.reconcile()
            reports.append(report)
            if on_pass:
                on_pass(report)
            phase = self.state().phase.value
            if phase in wanted and self.state().pending is None and (
                self.state().pull_request is None or phase == "WaitingPromotion"
            ):
                return reports
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"canary still {phase} after {timeout:.0f}s; events: "
                    + json.dumps([e.message for e in self.state().events[-8:]])
                )
            time.sleep(self.pace if pause is None else pause)

    def gitbot_subjects(self) -> list[str]:
        """Subjects of gitbot's commits on main, oldest first."""
        namespace, name = self.key.split("/", 1)
        prefix = f"{name}.{namespace}: "
        return [s for s in reversed(self.dev.log_subjects()) if s.startswith(prefix)]
