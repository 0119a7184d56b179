"""``python -m gitbot.sim REMOTE``: run the simulated Flux + Istio cluster until interrupted.

For trying gitbot by hand against a local GitOps remote: prints the /metrics address to put in a
Prometheus scrape config, then each revision Flux applies and any apply error.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from gitbot.sim.cluster import SimCluster


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gitbot.sim", description=__doc__)
    parser.add_argument("remote", help="git remote Flux follows (path or file:// URL)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--scenario", type=Path, help="workload behaviour YAML file")
    parser.add_argument("--flux-interval", type=float, default=2.0)
    parser.add_argument("--request-rate", type=float, default=20.0)
    parser.add_argument("--ab-share", type=float, default=0.1)
    parser.add_argument("--loadtest-rate", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0, help="metrics port (0 = any free port)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""
    args = _parser().parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = SimCluster(
        args.remote, args.branch, scenario=args.scenario, flux_interval=args.flux_interval,
        request_rate=args.request_rate, ab_share=args.ab_share,
        loadtest_rate=args.loadtest_rate, port=args.port,
    )
    with cluster:
        print(f"metrics: {cluster.metrics_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            _report_until(cluster, stop)
    return 0


def _report_until(cluster: SimCluster, stop: threading.Event) -> None:
    shown = ("", "")
    while not stop.wait(0.5):
        status = cluster.flux_status()
        now = (status.applied_sha, status.error)
        if now != shown:
            shown = now
            print(f"applied {cluster.revision or '-'}" +
                  (f"; error: {status.error}" if status.error else ""), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
