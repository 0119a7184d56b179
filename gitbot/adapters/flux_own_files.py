"""gitbot's own files in a Flux repository: the kustomization.yaml of its directory, its own Flux
Kustomization beside the team's, and the `.sourceignore` line that lets source-controller
package that directory.

Called by `gitbot.adapters.flux_editor` and `gitbot.adapters.helm_editor` when a bootstrap (or
a promotion's new config copies file) creates files in gitbot's directory; where that directory
is comes from `gitbot.adapters.flux_layout`.
"""

from __future__ import annotations

from pathlib import Path

from gitbot.adapters import bootstrap as generator
from gitbot.adapters.flux_layout import (
    OWN_ROOT,
    own_directory,
    own_kustomization,
    own_kustomization_file,
    own_kustomize_file,
)
from gitbot.adapters.manifest_index import ManifestIndex
from gitbot.adapters.manifest_merge import to_node
from gitbot.adapters.manifest_types import GENERATED_MARK, FieldChange
from gitbot.adapters.render import FluxKustomization
from gitbot.adapters.render.sourceignore import SourceIgnore
from gitbot.adapters.safefs import new_file, read_text, write_text
from gitbot.adapters.yamlio import YamlFile, dump_text
from gitbot.core.spec import Canary

SOURCEIGNORE = ".sourceignore"


def register_files(index: ManifestIndex, root: Path, canary: Canary, folder: str,
                   names: list[str]) -> list[FieldChange]:
    """List `names` (new files of gitbot's `folder`) in the folder's kustomization.yaml,
    creating it when it is missing."""
    rel = f"{folder}/kustomization.yaml"
    if rel in index.files or (root / rel).exists():
        index.files.setdefault(rel, YamlFile.read(root, rel))
        return [c for n in names for c in generator.register_resource(index, folder, n)]
    text = (f"{GENERATED_MARK} for Canary {canary.key}: applied by its own Flux "
            "Kustomization.\n" + dump_text(to_node(own_kustomize_file(names))))
    index.add_file(YamlFile.create(root, rel, text))
    return [FieldChange(rel, "Kustomization", "", "", "", None, {"resources": names})]


def declare_own_kustomization(index: ManifestIndex, root: Path, canary: Canary, cluster: str,
                              team: FluxKustomization) -> list[FieldChange]:
    """The Flux Kustomization that applies gitbot's directory for `team`, declared in the
    cluster directory beside the team's (nothing when it exists already)."""
    doc = own_kustomization(cluster, team)
    meta = doc["metadata"]
    rel = own_kustomization_file(cluster, team)
    if rel in index.files or (root / rel).exists():
        return []
    folder, _, name = rel.rpartition("/")
    text = (f"{GENERATED_MARK}: applies {own_directory(cluster, team)} after "
            f"Kustomization {team.key}.\n" + dump_text(to_node(doc)))
    index.add_file(YamlFile.create(root, new_file(root, folder, name, f"Canary {canary.key}"),
                                   text))
    found = [FieldChange(rel, "Kustomization", meta["namespace"], meta["name"], "", None, doc)]
    return found + generator.register_resource(index, folder, name)


def unignore_own_directory(root: Path, folder: str, written: list[str]) -> list[FieldChange]:
    """Re-include gitbot's directory in `.sourceignore` when it excludes it (the
    flux2-kustomize-helm-example ignores `/*` and re-includes its own directories), so that
    source-controller packages gitbot's files; `written` gets the file's name."""
    if not SourceIgnore.load(root).ignored(folder, is_dir=True):
        return []
    line = f"!/{OWN_ROOT}/"
    text = read_text(root, SOURCEIGNORE) if (root / SOURCEIGNORE).is_file() else ""
    addition = ("" if not text or text.endswith("\n") else "\n") + (
        f"# gitbot's generated objects (see clusters/*/gitbot-*.yaml)\n{line}\n")
    write_text(root, SOURCEIGNORE, text + addition)  # a regular file, never through a symlink
    written.append(SOURCEIGNORE)
    return [FieldChange(SOURCEIGNORE, "ignore rules", "", "", "lines[+]", None, line)]
