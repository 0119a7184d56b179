"""gitbot's config file for tests that run the CLI or build the app on a real remote with no
Prometheus behind it: the Prometheus URL is a port on 127.0.0.1 that nothing listens on (the
kernel gave it and it was released), so a query fails at once with "connection refused".

Imported as a sibling by tests/test_cli.py, test_cli_kubectl.py, test_names_repo.py,
test_state_rebuild.py, test_flux_reconcile.py and test_reconcile_bad_files.py.
"""

from __future__ import annotations

import socket
from pathlib import Path


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (free to bind, or to be refused at)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    """tmp_path/config.yaml: the remote `url` (branch main, work copy tmp_path/work), the closed
    Prometheus port with a 1 s timeout, then the YAML `extra`."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"git:\n  url: {url}\n  branch: main\n  workdir: {tmp_path / 'work'}\n"
        f"prometheus:\n  url: http://127.0.0.1:{closed_port()}\n  timeout: 1\n{extra}",
        encoding="utf-8",
    )
    return path
