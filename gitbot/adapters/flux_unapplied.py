"""Canary files of a Flux repository that no rendered Kustomization applies.

`gitbot validate` reads a Flux repository as Flux renders it for the served cluster, so a
Canary in a directory that no Flux Kustomization of that cluster builds, or only one whose
source gitbot cannot render (an `ExternalArtifact` of Flux 2.7's ArtifactGenerator that is not
a plain subtree of the repository, an `OCIRepository`, another GitRepository), is not a canary
at all. `unapplied_notes` names each such Canary at its `FILE:LINE` (with the skipped
Kustomizations, which may be what applies it), so that a user who just added one is not left
with `valid: 0 Canary`. Called by the CLI's `validate` only: it reads every YAML file of the
repository.
"""

from __future__ import annotations

from pathlib import Path

from gitbot.adapters.render import FluxView
from gitbot.adapters.spec_documents import read_documents, yaml_files


def unapplied_notes(root: Path, view: FluxView) -> list[str]:
    """One note per Canary document of the repository that `view` does not render; none while
    a Kustomization failed to build (its problem, printed above, is then the likelier reason,
    and a note would blame the layout for it)."""
    if view.problems:
        return []
    rendered = {(o.origin.file, o.name) for o in view.find("Canary")}
    skipped = ", ".join(k.key for k in view.external)
    why = f" (skipped, other source: {skipped})" if skipped else ""
    notes = []
    for path in yaml_files(root):
        documents, _problem = read_documents(root, path)  # broken files: not this note's job
        for doc in documents:
            if doc.data.get("kind") != "Canary" or not str(
                    doc.data.get("apiVersion", "")).startswith("flagger.app/"):
                continue
            meta = doc.data.get("metadata") or {}
            name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
            if (doc.path, name) in rendered:
                continue
            namespace = meta.get("namespace") if isinstance(meta, dict) else None
            key = f"{namespace}/{name}" if namespace else name
            notes.append(f"{doc.path}:{doc.locate(())}: Canary {key}: not applied by any Flux "
                         f"Kustomization gitbot renders for {view.cluster}{why}; ignored")
    return notes
