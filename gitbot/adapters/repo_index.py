"""One picture of the GitOps checkout for every tick of a pass: specs and manifests, by diff.

The reconciler owns one `RepoIndex` (built by `gitbot.wiring`, read by the observer, the
landing, the drift check and the daemon's rescan). `refresh(head)` after each sync (and after
each change it lands) re-reads only the files that differ between the commit the index shows
and `head` (`git diff --name-only`), plus the files gitbot saved or edited in memory since;
everything else stays parsed. `specs()` is the pass' `SpecSet` (`load_repository` through this
cache: unchanged loose files are not read again); `editor(flux)` is a `ManifestEditor` over the
one shared `ManifestIndex`, so every reader of a pass sees the same picture.

A Flux repository (`specs().flux` set) is rendered once per head: the rendered view is kept
while nothing changes; after a change it is rendered again through the index's `RenderCache`
(`renders`), which builds only the Kustomizations whose input files or Flux object changed and
takes the others from earlier renders (the FluxEditor's verification of an edit goes through
the same cache, so the pass after gitbot's own commit builds nothing). Given `head` (HEAD's
commit), the cache's artifact copy is updated by the paths reported here (refresh's difference,
saved files; `forget` means anything) and read again only for those (`render.mirror`); `close`
removes it. Its editor is a fresh
`FluxEditor` each time (it renders and verifies on save anyway).
Every parse still goes through `safefs` and the YAML budgets (`read_documents`, `YamlFile`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.manifest_index import KUSTOMIZATION_NAMES, ManifestIndex
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.render.cache import RenderCache
from gitbot.adapters.render.discovery import FLUX_MARKERS
from gitbot.adapters.render.mirror import Tracking
from gitbot.adapters.safefs import FileRefusedError, read_text
from gitbot.adapters.spec_documents import (
    Document,
    kustomization_namespace,
    read_documents,
    yaml_files,
)
from gitbot.adapters.specs import SpecSet, load_repository
from gitbot.core.parse import is_flagger
from gitbot.core.problems import Problem
from gitbot.core.spec import Canary

ChangedPaths = Callable[[str, str], "list[str] | None"]
Parsed = tuple[list[Document], Problem | None]


def _line_one(_at: object) -> int:
    return 1


class RepoIndex:
    """Parsed repository content, kept between passes and updated by what changed."""

    def __init__(
        self, root: Path, changed_paths: ChangedPaths, *, no_cross_namespace_refs: bool = False,
        cluster: str = "", remote_bases: bool = False, head: Callable[[], str] | None = None,
    ) -> None:
        self.root = root
        self._changed_paths = changed_paths
        self._strict = no_cross_namespace_refs
        self._cluster = cluster
        self._remote_bases = remote_bases  # security.remoteBases
        self._head = ""
        self._index: ManifestIndex | None = None
        self._specs: SpecSet | None = None
        self._docs: dict[str, Parsed] = {}
        self._namespaces: dict[Path, str] = {}
        self._saved: set[str] = set()
        self._files: list[Path] | None = None  # the YAML files, listed once per file set
        self._files_set: set[Path] = set()
        self._plain: bool | None = None  # no YAML file names a Flux API (None: not known yet)
        # Kustomization builds by input digest (Flux repositories); with `head` (HEAD's commit)
        # its artifact copy follows the checkout by the changes reported here (`mirror`)
        self.renders = RenderCache(Tracking(root, head, changed_paths) if head else None)
        self.reads = 0  # files parsed for specs since creation (for tests and the benchmark)
        self.loads = 0  # SpecSets built (each a render in a Flux repository)

    # -- keeping up with the checkout -----------------------------------------------------
    @property
    def head(self) -> str:
        """The commit the picture shows (as of the last `refresh`)."""
        return self._head

    def refresh(self, head: str, ours: bool = False) -> None:
        """The checkout is now at `head` (clean): forget what changed since the last refresh.
        `ours`: `head` is gitbot's own commit of the files its editors saved (no diff)."""
        stale = set(self._saved) | set(self._index.unsaved() if self._index else ())
        self.renders.changed(stale)
        if ours:  # what gitbot saved is what its picture holds: nothing to read again
            stale -= {rel for rel in self._saved if self._current(rel)}
        self._saved.clear()
        if head != self._head and not ours:
            changed = self._changed_paths(self._head, head) if self._head else None
            if changed is None:
                self.forget()
                self._head = head
                return
            stale.update(changed)
        self.renders.moved(self._head, head, stale)  # ours: the files saved (reported)
        self._head = head
        if stale:
            self._forget_files(stale)

    def _current(self, rel: str) -> bool:
        """True when the picture of a file gitbot saved is exact without reading it again: its
        manifest objects were edited in memory and written as they are, and it declares no
        Flagger object and the same Deployments as before (gitbot edits never rename)."""
        parsed = self._docs.get(rel)
        yfile = self._index.files.get(rel) if self._index is not None else None
        if parsed is None or yfile is None or yfile.is_new or Path(rel).name in \
                KUSTOMIZATION_NAMES or any(is_flagger(d.data) for d in parsed[0]):
            return False
        assert self._index is not None
        listed = {e.name for e in self._index.in_file(yfile) if e.kind == "Deployment"}
        cached = {str((d.data.get("metadata") or {}).get("name"))
                  for d in parsed[0] if d.data.get("kind") == "Deployment"}
        return listed == cached

    def saved(self, rels: Iterable[str]) -> None:
        """Files written by an editor (re-read at the next refresh, whatever happens to them)."""
        self._saved.update(rels)
        self.renders.changed(rels)

    def forget(self) -> None:
        """Drop everything: the next reads parse the whole repository (after a failed tick,
        whose editor may have left files half-edited in memory or on disk)."""
        self._index, self._specs, self._files, self._plain = None, None, None, None
        self.renders.unknown()
        self._docs.clear()
        self._namespaces.clear()
        self._saved.clear()

    def _forget_files(self, rels: set[str]) -> None:
        self._saved.clear()
        yamls = [self.root / r for r in rels if r.endswith((".yaml", ".yml"))]
        listed = self._files is not None and all(p.is_file() == (p in self._files_set)
                                                 for p in yamls)
        if not listed:
            self._files = None  # a file came or went: list again
        if self._plain and any(_flux_marked(self.root, r) for r in rels):
            self._plain = False
        before = {rel: self._docs.pop(rel, None) for rel in rels}
        moved = False
        for rel in rels:
            if Path(rel).name in KUSTOMIZATION_NAMES:
                moved = self._namespaces.pop((self.root / rel).parent, None) is not None or moved
        if self._index is not None:
            self._index.reload(rels)
        if self._specs is not None and not (listed and self._plain and not moved
                                            and self._same_specs(before)):
            self._specs = None

    def _same_specs(self, before: dict[str, Parsed | None]) -> bool:
        """True when the changed files declare the same Flagger objects and Deployments as
        before (a weight or replicas edit): the pass' SpecSet stays as it is."""
        for rel, old in before.items():
            path = self.root / rel
            new = self.documents(self.root, path) if path in self._files_set else None
            if _signature(old) != _signature(new):
                return False
        return True

    def close(self) -> None:
        """Remove the render cache's artifact copy (the process is done with the checkout)."""
        self.renders.close()

    # -- reading ----------------------------------------------------------------------------
    def specs(self) -> SpecSet:
        if self._specs is None:
            self.loads += 1
            self._specs = load_repository(self.root, no_cross_namespace_refs=self._strict,
                                          cluster=self._cluster, cache=self,
                                          remote_bases=self._remote_bases)
        return self._specs

    def manifests(self) -> ManifestIndex:
        if self._index is None:
            self._index = ManifestIndex(self.root)
            self._index.scan()
        return self._index

    def editor(self, flux: FluxSpecs | None = None, canary: Canary | None = None
               ) -> ManifestEditor:
        """The editor for this pass: over the shared index, or a FluxEditor (a HelmEditor for
        a canary a HelmRelease deploys; see above)."""
        if flux is not None:
            return _Tracked.wrap(editor_for(self.root, flux, canary), self)
        return _Tracked.wrap(ManifestEditor(self.root, index=self.manifests()), self)

    # -- SpecCache --------------------------------------------------------------------------
    def documents(self, root: Path, path: Path) -> Parsed:
        rel = path.relative_to(root).as_posix()
        if rel not in self._docs:
            self.reads += 1
            docs, problem = read_documents(root, path)
            self._docs[rel] = ([_slim(d) for d in docs if _wanted(d)], problem)
        return self._docs[rel]

    def yaml_files(self, root: Path) -> list[Path]:
        if self._files is None:
            self._files = list(yaml_files(root))
            self._files_set = set(self._files)
        return self._files

    def plain(self) -> bool:
        """No file mentions a Flux API: `load_repository` skips rendering (checked once,
        then only for the files that change)."""
        if self._plain is None:
            self._plain = not self._cluster and not any(
                _flux_marked(self.root, p.relative_to(self.root).as_posix())
                for p in self.yaml_files(self.root))
        return self._plain

    def kustomization_namespace(self, root: Path, directory: Path) -> str:
        if directory not in self._namespaces:
            self._namespaces[directory] = kustomization_namespace(root, directory)
        return self._namespaces[directory]


class _Tracked:
    """Reports the files an editor saves to the index (re-read at the next refresh)."""

    @staticmethod
    def wrap(editor: ManifestEditor, repo: RepoIndex) -> ManifestEditor:
        save = editor.save

        def tracked_save() -> list[str]:
            try:
                written = save()
            except BaseException:
                repo.forget()  # a refused save (Flux verify) may have left files behind
                raise
            repo.saved(written)
            return written

        editor.save = tracked_save  # type: ignore[method-assign]
        return editor


def _flux_marked(root: Path, rel: str) -> bool:
    """True when a changed YAML file may hold a Flux object (the repository must be rendered)."""
    if not rel.endswith((".yaml", ".yml")) or not (root / rel).is_file():
        return False
    try:
        text = read_text(root, rel)
    except FileRefusedError:
        return False
    return any(marker in text for marker in FLUX_MARKERS)


def _signature(parsed: Parsed | None) -> object:
    """What a file contributes to the SpecSet: Flagger documents (data and line), the names
    of its Deployments, its problem."""
    if parsed is None:
        return None
    docs, problem = parsed
    return problem, [(d.index, d.data, d.locate(())) if is_flagger(d.data)
                     else (d.index, d.data.get("kind"), d.data.get("metadata"))
                     for d in docs]


def _wanted(doc: Document) -> bool:
    """What `load_repository` looks at: Flagger objects and Deployments."""
    return is_flagger(doc.data) or doc.data.get("kind") == "Deployment"


def _slim(doc: Document) -> Document:
    """Flagger documents keep their line locator; others drop the round-trip tree it holds."""
    return doc if is_flagger(doc.data) else replace(doc, locate=_line_one)
