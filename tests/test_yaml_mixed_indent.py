"""Fidelity on a real upstream file with mixed sequence indentation (podinfo's
kustomize/deployment.yaml: `containers:` zero-indented, `volumes:` indented): gitbot's edits
change only the edited lines (golden files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitbot.adapters.manifest_merge import set_path
from gitbot.adapters.manifests import ManifestEditor

UPSTREAM = Path(__file__).parent / "data/flux_layouts/podinfo/kustomize/deployment.yaml"
GOLDEN = Path(__file__).parent / "data/golden/flux"


def edited(tmp_path: Path, edit: str) -> str:
    shutil.copy(UPSTREAM, tmp_path / "deployment.yaml")
    editor = ManifestEditor(tmp_path)
    if edit == "replicas":
        editor.set_replicas("test", "podinfo", 0)
    else:
        entry = editor.require("Deployment", "test", "podinfo")
        container = entry.doc.data["spec"]["template"]["spec"]["containers"][0]
        set_path(container, "image", "ghcr.io/stefanprodan/podinfo:6.15.0", [])
        entry.doc.touch()
    editor.save()
    return (tmp_path / "deployment.yaml").read_text()


@pytest.mark.parametrize("edit", [pytest.param("replicas", id="replicas-added"),
                                  pytest.param("image", id="image-changed")])
def test_mixed_indentation_is_kept_line_for_line(tmp_path: Path, edit: str) -> None:
    assert edited(tmp_path, edit) == (GOLDEN / f"podinfo-deployment-{edit}.yaml").read_text()
