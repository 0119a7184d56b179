"""Secret values for `secretRef` fields (MetricTemplate auth, AlertProvider address/token).

gitbot runs outside the cluster, so a Flagger `secretRef: {name: x}` in namespace `ns` is looked
up, key by key, in (1) files `<secretsDir>/<ns>/<x>/<key>` (the layout of a mounted Kubernetes
Secret) and (2) environment variables `GITBOT_SECRET_<NS>_<X>_<KEY>` (upper case, `-` and `.` as
`_`). Values are never logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path


class SecretResolver:
    """Callable `(namespace, name) -> {key: value}`; empty when nothing is found."""

    def __init__(self, secrets_dir: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self._dir = secrets_dir
        self._environ = os.environ if environ is None else environ

    def __call__(self, namespace: str, name: str) -> dict[str, str]:
        values = self._from_env(namespace, name)
        values.update(self._from_files(namespace, name))
        return values

    def _from_files(self, namespace: str, name: str) -> dict[str, str]:
        if self._dir is None:
            return {}
        folder = self._dir / namespace / name
        if not folder.is_dir():
            return {}
        return {
            p.name: p.read_text(encoding="utf-8").strip()
            for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }

    def _from_env(self, namespace: str, name: str) -> dict[str, str]:
        prefix = f"GITBOT_SECRET_{_env_part(namespace)}_{_env_part(name)}_"
        return {
            key[len(prefix):].lower(): value
            for key, value in self._environ.items()
            if key.startswith(prefix)
        }


def _env_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()
