"""Issue 8: no regex of the render and edit paths backtracks catastrophically on hostile input.

Three were found: a patch target's `name` is a regex from the repository, which gitbot matched
with Python's backtracking `re` (`(a|aa)*b` against a 60-letter name: about 10^12 steps; kustomize
uses Go's RE2, linear); a postBuild value of many `${` without a `}` (each scanned to the end:
quadratic, a minute for 100 KB); and the trailing-comment regex of YAML edits on a line of
100 KB of blanks (quadratic: minutes). Each test runs the hostile input through the public
function, checks the answer is the one kustomize/Flux give, and has a generous wall bound only
as a failure guard (the thread method: a regex in C cannot be interrupted by a signal).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitbot.adapters.render.model import (
    FluxKustomization,
    Origin,
    RenderedKustomization,
    RenderedObject,
    SourceRef,
    Transformer,
)
from gitbot.adapters.render.substitute import substitute
from gitbot.adapters.render.transformers import SelectingEntry, selecting_entries
from gitbot.adapters.yaml_fidelity import restore_nulls

HOSTILE = 100_000  # characters
GUARD = pytest.mark.timeout(30, method="thread")
PATCHES = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
patches:
  - target:
      kind: Deployment
      name: (a|aa)*b
    patch: '[{"op": "add", "path": "/spec/replicas", "value": 1}]'
  - target:
      kind: Deployment
      name: a+
    patch: '[{"op": "add", "path": "/spec/replicas", "value": 2}]'
  - target:
      kind: Deployment
      name: '[[:lower:]]+'
    patch: '[{"op": "add", "path": "/spec/replicas", "value": 3}]'
  - target:
      kind: Deployment
      name: (?<=a)a
    patch: '[{"op": "add", "path": "/spec/replicas", "value": 4}]'
"""


@GUARD
def test_a_patch_target_regex_is_matched_as_kustomize_does_in_linear_time(
        tmp_path: Path) -> None:
    """`(a|aa)*b` selects nothing at once; `[[:lower:]]+` (RE2/Go syntax) selects; a pattern
    RE2 refuses (a lookbehind: kustomize fails the build on it) selects nothing."""
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/kustomization.yaml").write_text(PATCHES, encoding="utf-8")
    name = "a" * 60
    obj = RenderedObject(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}},
        Origin("flux-system/apps", "apps/deployment.yaml", 1,
               transformers=(Transformer("PatchTransformer", "apps/kustomization.yaml"),)))
    flux = FluxKustomization("apps", "flux-system", "apps",
                             SourceRef("GitRepository", "flux-system", "flux-system"), {})
    found = selecting_entries(tmp_path, RenderedKustomization(flux, (obj,)), obj)
    assert found == [SelectingEntry("patches[1]", "apps/kustomization.yaml", 10),
                     SelectingEntry("patches[2]", "apps/kustomization.yaml", 14)]


@GUARD
def test_post_build_substitution_of_many_unclosed_expressions_is_linear() -> None:
    hostile = "${" * (HOSTILE // 2)
    obj = {"kind": "ConfigMap", "data": {"hostile": hostile,
                                         "mixed": "${a}-$${a}-${b:=d} ${c ${",
                                         "tail": "x ${a} y ${"}}
    out = substitute(obj, {"a": "1", "c": "3"}, "test")
    assert out["data"] == {"hostile": hostile, "mixed": "1-${a}-d ${c ${",
                           "tail": "x 1 y ${"}


@GUARD
def test_an_edited_line_of_blanks_keeps_its_comment_spacing_in_linear_time() -> None:
    blanks = " \t" * (HOSTILE // 2)
    assert restore_nulls(f"a: 1\nkey: {blanks}x\n", "a: 1\nkey: y\n") == "a: 1\nkey: y\n"
    assert restore_nulls(f"key: 1{blanks}# c\n", "key: 2 # c\n") == f"key: 2{blanks}# c\n"
    assert restore_nulls("a: 1   # keep\n", "a: 2 # keep\n") == "a: 2   # keep\n"
