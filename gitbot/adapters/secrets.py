"""Secret values for `secretRef` fields (MetricTemplate auth, AlertProvider address/token).

gitbot runs outside the cluster, so a Flagger `secretRef: {name: x}` of an object in namespace
`ns` is looked up, key by key, in (1) files `<secretsDir>/<ns>/<x>/<key>` (the layout of a
mounted Kubernetes Secret, whose `..data` symlinks are followed as long as they stay inside
`secretsDir`) and (2) environment variables `GITBOT_SECRET_<NS>_<X>_<KEY>` (upper case, `-` and
`.` as `_`). The callers (`gitbot.adapters.prometheus`, `gitbot.adapters.notifiers`) pass the
namespace of the object that holds the `secretRef`.

Names come from the repository, so they are checked again here (defence in depth, the parser
already refuses them): a namespace must be an RFC 1123 label, a name an RFC 1123 subdomain, and
every path is resolved and proven to lie inside `secretsDir`. Only regular files up to
`MAX_VALUE_BYTES` are read (never a FIFO or a device). Values are never logged or shown.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from gitbot.core.parse_names import LABEL, SECRET_KEY, SUBDOMAIN, name_problem
from gitbot.errors import InvalidInputError

MAX_VALUE_BYTES = 64 * 1024


class SecretRefError(InvalidInputError):
    """A secretRef that gitbot refuses to resolve; the text names it, never a value."""


class SecretResolver:
    """Callable `(namespace, name) -> {key: value}`; empty when nothing is found.

    Raises `SecretRefError` for an invalid namespace or name, a path leaving `secretsDir`, a
    value that is not a regular file or is larger than `MAX_VALUE_BYTES`.
    """

    def __init__(self, secrets_dir: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self._dir = secrets_dir
        self._environ = os.environ if environ is None else environ

    def __call__(self, namespace: str, name: str) -> dict[str, str]:
        _check_ref(namespace, name)
        values = self._from_env(namespace, name)
        values.update(self._from_files(namespace, name))
        return values

    def _from_files(self, namespace: str, name: str) -> dict[str, str]:
        if self._dir is None or not self._dir.is_dir():
            return {}
        base = self._dir.resolve(strict=True)
        folder = _inside(base, base / namespace / name, f"{namespace}/{name}")
        if not folder.is_dir():
            return {}
        values: dict[str, str] = {}
        for entry in sorted(folder.iterdir()):
            key = entry.name
            if key.startswith(".") or name_problem(key, SECRET_KEY) is not None:
                continue  # a mounted Secret's `..data` links, or no Secret key at all
            where = f"{namespace}/{name} key {key}"
            target = _inside(base, entry, where)
            if target.is_dir():
                continue
            values[key] = _read_value(target, where)
        return values

    def _from_env(self, namespace: str, name: str) -> dict[str, str]:
        prefix = f"GITBOT_SECRET_{_env_part(namespace)}_{_env_part(name)}_"
        return {
            key[len(prefix):].lower(): value
            for key, value in self._environ.items()
            if key.startswith(prefix)
        }


def _check_ref(namespace: str, name: str) -> None:
    for what, value, rule in (("namespace", namespace, LABEL), ("name", name, SUBDOMAIN)):
        problem = name_problem(value, rule)
        if problem:
            raise SecretRefError(f"secretRef {what} refused: {problem}")


def _inside(base: Path, path: Path, where: str) -> Path:
    """`path` with every symlink resolved, if that lies inside `base`; else refused."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return path  # nothing there: the caller finds no folder or file
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop
        raise SecretRefError(f"secret {where}: cannot be resolved: {err}") from None
    if real != base and base not in real.parents:
        raise SecretRefError(f"secret {where}: refused, it resolves to a path outside secretsDir")
    return real


def _read_value(path: Path, where: str) -> str:
    """One value: a regular file, opened without blocking, at most `MAX_VALUE_BYTES`."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SecretRefError(f"secret {where}: refused, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SecretRefError(f"secret {where}: refused, not a regular file")
            data = handle.read(MAX_VALUE_BYTES + 1)
    except OSError as err:
        raise SecretRefError(f"secret {where}: cannot be read: {err.strerror}") from None
    if len(data) > MAX_VALUE_BYTES:
        raise SecretRefError(f"secret {where}: refused, larger than {MAX_VALUE_BYTES} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretRefError(f"secret {where}: not UTF-8 text") from None


def _env_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()
