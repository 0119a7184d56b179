"""Index of the Kubernetes documents in a GitOps repository by (kind, namespace, name).

Used by `gitbot.adapters.manifests.ManifestEditor`. Every `*.yaml`/`*.yml` file under the root
(except `.git`) is split into documents; a document with `kind` and `metadata.name` is an
object. Its namespace is `metadata.namespace`, else the `namespace:` of the `kustomization.yaml`
in its directory, else unresolved (it then matches any namespace asked for, so the Canary's
namespace acts as the default). Files are read through `gitbot.adapters.safefs` (regular files
inside the root only) and parsed within the YAML budgets; a file that is refused or does not
parse is skipped and listed in `skipped` with the reason, and costs only its own objects.
One index can live for many ticks (`gitbot.adapters.repo_index.RepoIndex`): `reload(rels)`
re-reads only the files that changed on disk, `unsaved()` names the files edited in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from gitbot.adapters.safefs import FileRefusedError, read_text, repo_files
from gitbot.adapters.yamlbudget import safe_yaml
from gitbot.adapters.yamlio import YamlDocument, YamlFile, YamlSyntaxError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class DocRef:
    """Where an object is: repository-relative path, document index in the file, 1-based line."""

    path: str
    index: int
    line: int


@dataclass
class Entry:
    """One indexed object."""

    kind: str
    namespace: str  # "" when unresolved
    name: str
    file: YamlFile
    doc: YamlDocument

    @property
    def ref(self) -> DocRef:
        return DocRef(self.file.rel, self.doc.index, self.doc.line)

    @property
    def subject(self) -> str:
        return f"{self.file.rel}:{self.doc.line}: {self.kind} {self.namespace}/{self.name}"


def _safe_load(text: str) -> Any:
    return safe_yaml().load(text)


def _identity(data: Any) -> tuple[str, str, str] | None:
    if not isinstance(data, Mapping) or not isinstance(data.get("metadata"), Mapping):
        return None
    kind, name = data.get("kind"), data["metadata"].get("name")
    if not isinstance(kind, str) or not isinstance(name, str):
        return None
    namespace = data["metadata"].get("namespace")
    return kind, name, namespace if isinstance(namespace, str) else ""


class FileTable(dict[str, YamlFile]):
    """The index's files by path; remembers which of them were edited in memory (a file
    reports itself, see `YamlFile.edits`), so `edited` costs the edited files, not all."""

    def __init__(self) -> None:
        super().__init__()
        self._edits: set[YamlFile] = set()

    def __setitem__(self, rel: str, yfile: YamlFile) -> None:
        super().__setitem__(rel, yfile)
        yfile.edits = self._edits
        if yfile.edited:
            self._edits.add(yfile)

    def setdefault(self, rel: str, default: YamlFile) -> YamlFile:
        if rel not in self:
            self[rel] = default
        return self[rel]

    def edited(self) -> list[tuple[str, YamlFile]]:
        """(path, file) of the files edited since their last save, by path."""
        live = [f for f in self._edits if f.edited and self.get(f.rel) is f]
        self._edits.intersection_update(live)
        return sorted(((f.rel, f) for f in live), key=lambda item: item[0])


class ManifestIndex:
    """Lazily scanned index of a repository's objects."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = FileTable()
        self.entries: list[Entry] = []
        self.skipped: dict[str, str] = {}  # rel -> why it was not indexed
        self._scanned = False
        self._kustomize_ns: dict[Path, str] = {}
        self._by_name: dict[tuple[str, str], list[Entry]] = {}
        self._by_file: dict[str, list[Entry]] = {}
        self._indexed = 0  # how many of `entries` are in `_by_name` (others append directly)
        self._indexed_list: list[Entry] = self.entries  # a reassigned list is indexed again

    def scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for rel in repo_files(self.root, (".yaml", ".yml")):
            try:
                self.add_file(YamlFile.read(self.root, rel))
            except (FileRefusedError, YamlSyntaxError) as err:
                self.skipped[rel] = str(err)

    def add_file(self, yfile: YamlFile) -> None:
        """Register a file (read from disk or newly generated) and its objects."""
        found = []
        for doc in yfile.documents:
            try:
                data = _safe_load(doc.text)
            except YAMLError as err:
                raise doc.syntax_error(err) from err
            ident = _identity(data)
            if ident is not None:
                kind, name, namespace = ident
                namespace = namespace or self.kustomize_namespace(yfile.path.parent)
                found.append(Entry(kind, namespace, name, yfile, doc))
        self.files[yfile.rel] = yfile
        self.entries.extend(found)

    def kustomize_namespace(self, folder: Path) -> str:
        if folder not in self._kustomize_ns:
            self._kustomize_ns[folder] = _read_kustomize_namespace(self.root, folder)
        return self._kustomize_ns[folder]

    def reload(self, rels: Iterable[str]) -> None:
        """Forget the files `rels` (and edits made to them) and read those that still exist;
        a changed kustomization re-reads its whole folder (the namespace of its objects)."""
        if not self._scanned:
            return
        wanted = set(rels)
        for rel in list(wanted):
            folder = (self.root / rel).parent
            if Path(rel).name in KUSTOMIZATION_NAMES:
                self._kustomize_ns.pop(folder, None)
                wanted.update(r for r in self.files if (self.root / r).parent == folder)
        self.entries = [e for e in self.entries if e.file.rel not in wanted]
        self._forget_lookups()
        for rel in sorted(wanted):
            self.files.pop(rel, None)
            self.skipped.pop(rel, None)
        present = {r for r in wanted if r.endswith((".yaml", ".yml"))
                   and os.path.lexists(self.root / r)}
        if any((self.root / r).is_symlink() for r in present):  # listed as repo_files does
            present &= set(repo_files(self.root, (".yaml", ".yml")))
        for rel in sorted(present):
            try:
                self.add_file(YamlFile.read(self.root, rel))
            except (FileRefusedError, YamlSyntaxError) as err:
                self.skipped[rel] = str(err)

    def unsaved(self) -> list[str]:
        """Files changed in memory and not saved (new, or with an edited document)."""
        return [rel for rel, _f in self.files.edited()]

    def _forget_lookups(self) -> None:
        self._by_name, self._by_file = {}, {}
        self._indexed, self._indexed_list = 0, self.entries

    def _lookups(self) -> None:
        """Bring `_by_name` and `_by_file` up to `entries` (appended to, or reassigned)."""
        if self.entries is not self._indexed_list or len(self.entries) < self._indexed:
            self._forget_lookups()
        for entry in self.entries[self._indexed:]:
            self._by_name.setdefault((entry.kind, entry.name), []).append(entry)
            self._by_file.setdefault(entry.file.rel, []).append(entry)
        self._indexed = len(self.entries)

    def _candidates(self, kind: str, name: str) -> list[Entry]:
        self._lookups()
        return self._by_name.get((kind, name), [])

    def in_file(self, yfile: YamlFile) -> list[Entry]:
        """The objects indexed from `yfile`."""
        self._lookups()
        return [e for e in self._by_file.get(yfile.rel, []) if e.file is yfile]

    def find(self, kind: str, namespace: str, name: str) -> Entry | None:
        """The object; an exact namespace match wins over an unresolved namespace."""
        self.scan()
        loose = None
        for entry in self._candidates(kind, name):
            if entry.namespace == namespace:
                return entry
            if not entry.namespace and loose is None:
                loose = entry
        return loose

    def of_kind(self, kind: str, namespace: str) -> list[Entry]:
        self.scan()
        return [e for e in self.entries if e.kind == kind and e.namespace in (namespace, "")]


def _read_kustomize_namespace(root: Path, folder: Path) -> str:
    for name in KUSTOMIZATION_NAMES:
        path = folder / name
        if path.is_file():
            try:
                data = _safe_load(read_text(root, path.relative_to(root).as_posix()))
            except (YAMLError, FileRefusedError):
                return ""
            if isinstance(data, Mapping) and isinstance(data.get("namespace"), str):
                return str(data["namespace"])
            return ""
    return ""
