"""Renders of Flux Kustomizations kept between passes, keyed by the content of their inputs.

`RenderCache.build(artifact, kustomization, run)` returns the objects (with origins, before
`postBuild` substitution) that building `kustomization` in this artifact copy yields: from the
cache when a build with the same digest ran before (`inputs.digest`: the Flux Kustomization
object and the content of every file its build reads), else by calling `run` (kustomize) and
remembering the result. So between two heads only the Kustomizations whose inputs changed (an
overlay, a shared base, their Flux object) are built again, whatever the history in between,
and a tree already rendered (FluxEditor's verification of an edit, then the pass after the
commit) is never rendered twice. A build that fetches a remote base (`remote.check`, checked
before each build that runs) is never kept: it runs at every render. `postBuild`
substitution is applied by the caller on every render, so a changed ConfigMap of
`substituteFrom` takes effect without a build. `scanned` keeps the Flux objects discovery
found in each file, so the files declaring the Flux Kustomizations are parsed again only when
they change, and `mirror` the artifact copy kept between renders (`mirror.Mirror`): with
`tracking` (the owner reports every change of the working tree: `changed`, `moved`, `unknown`),
a render after an edit copies, checks and digests only the files that changed. `close()`
removes that copy (the owner closes the cache; an unclosed one is removed when collected).

The reconciler's `RepoIndex` owns one cache (through `FluxSpecs.cache` it reaches the
FluxEditor's verification); `builds`, `built` (per Kustomization) and `hits` count for tests
and the benchmark. Entries not used by the last renders are dropped once the cache holds more
than twice the Kustomizations of the last render.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from gitbot.adapters.render import discovery, inputs
from gitbot.adapters.render.mirror import Mirror, Tracking
from gitbot.adapters.render.model import FluxKustomization, RenderedObject

Objects = tuple[RenderedObject, ...]
MIN_ENTRIES = 16


class RenderCache:
    """Kustomize builds by input digest (see the module docstring)."""

    def __init__(self, tracking: Tracking | None = None) -> None:
        self._entries: OrderedDict[str, tuple[Objects, float]] = OrderedDict()
        self._references: dict[str, tuple[list[str], bool]] = {}
        self.scanned = discovery.FluxFiles()  # the Flux documents of each file (discovery.scan)
        self.mirror = Mirror(tracking, self.scanned, self._references)
        self._lock = threading.Lock()
        self._files: dict[Path, inputs.FileDigests] = {}  # per artifact copy being rendered
        self._walked = 0  # builds asked for since the last render began
        self._previous = 0  # ... in the render before
        self.builds = 0  # kustomize builds run through this cache
        self.built: Counter[str] = Counter()  # ... per Flux Kustomization ("namespace/name")
        self.hits = 0  # builds answered from it

    def changed(self, rels: Iterable[str]) -> None:
        """Files of the tracked working tree that changed (or may have) since it was reported."""
        self.mirror.changed(rels)

    def moved(self, old: str, new: str, rels: Iterable[str]) -> None:
        """The tracked working tree went from commit `old` to `new`, `rels` changing."""
        self.mirror.moved(old, new, rels)

    def unknown(self) -> None:
        """Anything may have changed: the next render copies the whole tree again."""
        self.mirror.unknown()

    def close(self) -> None:
        """Remove the artifact copy (a later render makes a new one)."""
        self.mirror.close()

    def begin(self, artifact: Path, digests: inputs.FileDigests) -> None:
        """A render of `artifact` begins, with the digests its copy kept (`mirror`)."""
        with self._lock:
            self._files[artifact] = digests
            self._previous, self._walked = max(self._walked, self._previous // 2), 0
            self._trim_references()

    def release(self, artifact: Path) -> None:
        """The render of this artifact copy is over (its directory is about to go)."""
        with self._lock:
            self._files.pop(artifact, None)

    def _digests(self, artifact: Path) -> inputs.FileDigests:
        with self._lock:
            if artifact not in self._files:  # a new render: its files' digests afresh
                self._files[artifact] = inputs.FileDigests(self._references)
                self._previous, self._walked = max(self._walked, self._previous // 2), 0
                self._trim_references()
            return self._files[artifact]

    def _trim_references(self) -> None:
        if len(self._references) > 16 * max(MIN_ENTRIES, len(self._entries)):
            self._references.clear()

    def build(self, artifact: Path, kustomization: FluxKustomization,
              run: Callable[[], tuple[Objects, float]],
              check: Callable[[], bool] | None = None) -> tuple[Objects, float]:
        """The build's objects and seconds, from the cache when its inputs are unchanged.

        Before running a build, `check` (`remote.check`) may refuse it (it raises) or say it
        fetches a remote base (True): then it is not kept. A hit needs no check: the build kept
        had the same inputs and fetched nothing."""
        digests = self._digests(artifact)
        found = digests.closure(artifact, kustomization.path)
        key = None if found.volatile else inputs.digest(artifact, kustomization, found, digests)
        with self._lock:
            self._walked += 1
            cached = self._entries.get(key) if key else None
            if cached is not None:
                self._entries.move_to_end(key)  # type: ignore[arg-type]
                self.hits += 1
                return cached
        fetches = check() if check is not None else False
        result = run()
        with self._lock:
            self.builds += 1
            self.built[kustomization.key] += 1
            if key and not fetches:
                self._entries[key] = result
                self._trim()
        return result

    def _trim(self) -> None:
        limit = max(MIN_ENTRIES, 2 * max(self._walked, self._previous))
        while len(self._entries) > limit:
            self._entries.popitem(last=False)

    @property
    def size(self) -> int:
        """How many builds the cache holds."""
        return len(self._entries)
