"""Simulated Flux: follows a branch of a git remote and applies its manifests after a delay.

``gitbot.sim.cluster.SimCluster`` owns one ``FluxSync`` and calls ``poll()`` from its Flux thread.
Each poll fetches the branch into a private clone; a new head is applied once ``interval`` seconds
have passed since it was first seen (0 = on this poll). A repository with Flux Kustomizations is
applied as Flux does: each Kustomization's rendered output (real kustomize, the same
``gitbot.adapters.render`` gitbot uses). Otherwise applying reads every plain YAML manifest of
the tree (a directory with ``kustomization.yaml`` contributes only its ``resources:``). The
objects go to a callback. A manifest that fails to parse (or a Kustomization that fails to
build) leaves the last good revision in place and is recorded as the error, as Flux does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitbot.adapters.render import render_repository
from gitbot.errors import InvalidInputError
from gitbot.sim.helm import render_release
from gitbot.sim.objects import KubeObject, ManifestError, parse_object

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
BOOTSTRAP = ("flux-system", "flux-system")
Key = tuple[str, str]
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


class GitError(RuntimeError):
    """A git command of the simulated Flux failed."""


def load_manifests(root: Path, cluster: str | None = None) -> list[KubeObject]:
    """All simulated objects under ``root``: the rendered output of the Flux Kustomizations of
    ``cluster`` (default: the only one), else the plain files honouring kustomization.yaml."""
    return load_cluster(root, cluster)[0]


def load_cluster(root: Path, cluster: str | None = None
                 ) -> tuple[list[KubeObject], tuple[Key, ...]]:
    """``load_manifests`` and the (namespace, name) of each Flux Kustomization applying them
    (a plain repository: bootstrap's flux-system alone)."""
    try:
        view = render_repository(root, cluster)
    except InvalidInputError as err:  # a failing Kustomization: Flux keeps the last revision
        raise ManifestError(str(err)) from err
    if view is not None:
        docs: list[Mapping[str, Any]] = []
        for item in view.objects():
            docs += helm_objects(item.obj) if is_helm_release(item.obj) else [item.obj]
        parsed = (parse_object(doc) for doc in docs)
        keys = tuple((r.kustomization.namespace, r.kustomization.name)
                     for r in view.kustomizations)
        return [obj for obj in parsed if obj is not None], keys
    objects: list[KubeObject] = []
    for path, namespace in _manifest_files(root, None):
        objects.extend(_load_file(path, namespace))
    return objects, (BOOTSTRAP,)


def is_helm_release(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") == "HelmRelease" and str(doc.get("apiVersion", "")).startswith(
        "helm.toolkit.fluxcd.io/")


def helm_objects(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """What the simulated helm-controller applies for a HelmRelease (``gitbot.sim.helm``), and
    the release itself (its status series)."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    version = ((spec.get("chart") or {}).get("spec") or {}).get("version") or ""
    status = {"apiVersion": "sim.gitbot.io/v1", "kind": "HelmReleaseStatus",
              "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
              "spec": {"revision": str(version)}}
    return [*render_release(doc), status]


def _manifest_files(directory: Path, namespace: str | None) -> Iterator[tuple[Path, str | None]]:
    kustomization = next(
        (directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None
    )
    if kustomization is not None:
        yield from _kustomization_files(kustomization, namespace)
        return
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _manifest_files(entry, namespace)
        elif entry.suffix in (".yaml", ".yml"):
            yield entry, namespace


def _kustomization_files(path: Path, outer: str | None) -> Iterator[tuple[Path, str | None]]:
    data = _read_yaml(path)
    spec = data[0] if data and isinstance(data[0], dict) else {}
    namespace = str(spec.get("namespace") or "") or outer
    for resource in spec.get("resources") or []:
        target = (path.parent / str(resource)).resolve()
        if not target.exists():
            raise ManifestError(f"{path.name}: resource {resource!r} not found")
        if target.is_dir():
            yield from _manifest_files(target, namespace)
        else:
            yield target, namespace


def _load_file(path: Path, namespace: str | None) -> list[KubeObject]:
    objects: list[KubeObject] = []
    for doc in _read_yaml(path):
        if doc is None:
            continue
        try:
            parsed = parse_object(doc, namespace)
        except ManifestError as err:
            raise ManifestError(f"{path.name}: {err}") from err
        if parsed is not None:
            objects.append(parsed)
    return objects


def _read_yaml(path: Path) -> list[object]:
    try:
        with path.open(encoding="utf-8") as stream:
            return list(YAML(typ="safe", pure=True).load_all(stream))
    except (YAMLError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path.name}: invalid YAML: {err}") from err


class GitMirror:
    """A private clone of one branch of a remote, fetched on demand."""

    def __init__(self, remote_url: str, branch: str) -> None:
        self.remote_url, self.branch = remote_url, branch
        self.workdir = Path(tempfile.mkdtemp(prefix="gitbot-sim-flux-"))
        self._git("init", "-q")
        self._git("remote", "add", "origin", remote_url)
        self._fetched = ""

    def fetch_head(self) -> str:
        """Fetch the branch; its head sha, or "" when the branch does not exist yet."""
        local = _local_ref(self.remote_url, self.branch)
        if local and local == self._fetched:  # a local remote that did not move: no git run
            return local
        ref = f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}"
        try:
            self._git("fetch", "-q", "--no-tags", "origin", ref)
        except GitError:
            return ""
        self._fetched = self._git("rev-parse", f"refs/remotes/origin/{self.branch}").strip()
        return self._fetched

    def checkout(self, sha: str) -> Path:
        """Put the tree of ``sha`` in the work directory and return it."""
        self._git("checkout", "-q", "--force", "--detach", sha)
        self._git("clean", "-q", "-f", "-d", "-x")
        return self.workdir

    def is_ancestor(self, ancestor: str, sha: str) -> bool:
        """Whether commit ``ancestor`` is contained in ``sha``'s history."""
        try:
            self._git("merge-base", "--is-ancestor", ancestor, sha)
        except GitError:
            return False
        return True

    def close(self) -> None:
        """Remove the clone."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _git(self, *args: str) -> str:
        env = {**os.environ, **_GIT_ENV}
        done = subprocess.run(
            ["git", "-C", str(self.workdir), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {done.stderr.strip()[:500]}")
        return done.stdout


def _local_ref(remote_url: str, branch: str) -> str:
    """The sha of `branch` read from the files of a local bare remote, "" when not readable
    that way (another URL, a ref being rewritten): polling a file costs no git process, which
    matters when several simulated clusters poll every 0.1 s on a small machine."""
    root = Path(remote_url)
    if not root.is_absolute():
        return ""
    try:
        return (root / "refs" / "heads" / branch).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        pass
    try:
        packed = (root / "packed-refs").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return ""
    suffix = f" refs/heads/{branch}"
    return next((line.split(" ", 1)[0] for line in packed.splitlines()
                 if line.endswith(suffix)), "")


@dataclass(frozen=True)
class FluxStatus:
    """What Flux reports: the applied sha, whether the last attempt worked, and its error;
    the Flux Kustomizations (namespace, name) that applied it."""

    applied_sha: str
    ready: bool
    error: str
    kustomizations: tuple[Key, ...] = (BOOTSTRAP,)


ApplyCallback = Callable[[Sequence[KubeObject], str], None]


class FluxSync:
    """The reconcile logic of one Flux Kustomization; ``poll`` is called repeatedly."""

    def __init__(self, mirror: GitMirror, apply: ApplyCallback, interval: float,
                 cluster: str | None = None) -> None:
        self._mirror, self._apply = mirror, apply
        self._cluster = cluster  # the Flux cluster directory applied (None: the only one)
        self._kustomizations: tuple[Key, ...] = (BOOTSTRAP,)
        self._lock = threading.Lock()
        self._interval, self._paused = interval, False
        self._applied, self._error, self._failed_sha = "", "", ""
        self._pending_since: float | None = None
        self._applied_event = threading.Condition(self._lock)
        self._polling = threading.Lock()  # held for a whole poll: pausing waits for it

    def set_interval(self, seconds: float) -> None:
        """Change the delay between seeing a new head and applying it."""
        with self._lock:
            self._interval = seconds

    def set_paused(self, paused: bool) -> None:
        """A paused Flux neither fetches nor applies: once this returns, a poll that was under
        way has finished, so what is applied stays as it is until resumed."""
        with self._polling, self._lock:
            self._paused = paused
            self._pending_since = None

    def status(self) -> FluxStatus:
        """A consistent snapshot of the sync state."""
        with self._lock:
            return FluxStatus(self._applied, not self._error, self._error, self._kustomizations)

    def poll(self, now: float | None = None) -> None:
        """Fetch, and apply the head when it is new and its delay has passed."""
        now = time.monotonic() if now is None else now
        with self._polling:
            with self._lock:
                if self._paused:
                    return
            head = self._mirror.fetch_head()
            if not self._due(head, now):
                return
            self._reconcile(head)

    def wait_applied(self, sha: str, timeout: float) -> bool:
        """Block until ``sha`` (a full or abbreviated commit) or a descendant of it is applied."""
        deadline = time.monotonic() + timeout
        seen = ""
        while True:
            with self._applied_event:
                if self._applied == seen:
                    self._applied_event.wait(max(0.0, deadline - time.monotonic()))
                seen = self._applied
            if seen and (seen.startswith(sha) or self._mirror.is_ancestor(sha, seen)):
                return True
            if time.monotonic() >= deadline:
                return False

    def _due(self, head: str, now: float) -> bool:
        with self._lock:
            if not head or head in (self._applied, self._failed_sha):
                self._pending_since = None
                return False
            if self._pending_since is None:
                self._pending_since = now
            return now - self._pending_since >= self._interval

    def _reconcile(self, head: str) -> None:
        try:
            objects, kustomizations = load_cluster(self._mirror.checkout(head), self._cluster)
        except (ManifestError, GitError, OSError) as err:
            with self._lock:
                self._error, self._failed_sha = str(err), head
                self._pending_since = None
            return
        self._apply(objects, head)
        with self._applied_event:
            self._applied, self._error, self._failed_sha = head, "", ""
            self._kustomizations = kustomizations
            self._pending_since = None
            self._applied_event.notify_all()
