"""The YAML files of a GitOps checkout and their mapping documents, each with a locator giving
the line of any field (for `FILE:LINE` in every problem gitbot reports).

Called by gitbot/adapters/specs.py (the plain, file-by-file load), gitbot/adapters/repo_index.py
(the same, cached between passes), gitbot/adapters/flux_specs.py (a rendered object's source
document) and gitbot/adapters/flux_unapplied.py. Files are read through
`gitbot.adapters.safefs` and parsed within `gitbot.adapters.yamlbudget`: a refused or broken file
becomes one Problem at its line.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from gitbot.adapters.safefs import FileRefusedError, read_text, repo_files
from gitbot.adapters.yamlbudget import (
    YamlBudgetError,
    rt_yaml,
    safe_yaml,
    yaml_error_line,
    yaml_error_text,
)
from gitbot.core.parse_fields import FieldPath
from gitbot.core.problems import Problem

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Document:
    """One mapping document: repository-relative POSIX path, index in the file, plain data."""

    path: str
    index: int
    data: dict[str, Any]
    locate: Callable[[FieldPath], int]


def yaml_files(root: Path) -> Iterator[Path]:
    """Every `*.yaml` / `*.yml` file under `root`, sorted, outside hidden and symlinked
    directories (a symlink to another listed file is read under the target's name) and outside
    Helm charts' `templates/` (Go templates, not YAML: a chart beside the manifests, as in
    stefanprodan/podinfo, is not an invalid document)."""
    files = sorted(repo_files(root, (".yaml", ".yml"), skip_hidden=True))
    yield from (root / rel for rel in files if not _chart_template(root, rel))


def _chart_template(root: Path, rel: str) -> bool:
    parts = rel.split("/")
    return any(parts[i] == "templates" and (root.joinpath(*parts[:i]) / "Chart.yaml").is_file()
               for i in range(len(parts) - 1))

def kustomization_namespace(root: Path, directory: Path) -> str:
    """The `namespace:` of the kustomization file in `directory` ("" when none)."""
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            try:
                text = read_text(root, path.relative_to(root).as_posix())
                data: Any = safe_yaml().load(text)
            except (YAMLError, FileRefusedError):
                return ""
            value = data.get("namespace") if isinstance(data, dict) else None
            return value if isinstance(value, str) else ""
    return ""

def read_documents(root: Path, path: Path) -> tuple[list[Document], Problem | None]:
    """The mapping documents of `path`, or none and one Problem when the YAML is broken."""
    relative = path.relative_to(root).as_posix()
    try:
        raw = list(rt_yaml().load_all(read_text(root, relative)))
    except FileRefusedError as error:
        return [], Problem(relative, 1, "", "", "", error.reason)
    except YamlBudgetError as error:
        return [], Problem(relative, yaml_error_line(error), "", "", "",
                           f"refused: {yaml_error_text(error)}")
    except YAMLError as error:
        return [], Problem(relative, yaml_error_line(error), "", "", "",
                           f"invalid YAML: {yaml_error_text(error)}")
    docs = [
        Document(relative, index, to_plain(doc), make_locator(doc))
        for index, doc in enumerate(raw)
        if isinstance(doc, CommentedMap)
    ]
    return docs, None


def to_plain(value: Any) -> Any:
    """ruamel.yaml round-trip data as plain dicts, lists, str, int, float, bool and None."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return bool(value) if type(value).__name__ == "ScalarBoolean" else int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def make_locator(doc: CommentedMap) -> Callable[[FieldPath], int]:
    """A function giving the 1-based line of a field, or of its nearest existing parent."""

    def locate(at: FieldPath) -> int:
        node: Any = doc
        line = int(doc.lc.line)
        for key in at:
            step = _step(node, key)
            if step is None:
                break
            line, node = step
        return line + 1

    return locate


def _step(node: Any, key: str | int) -> tuple[int, Any] | None:
    try:
        if isinstance(node, CommentedMap) and isinstance(key, str) and key in node:
            return int(node.lc.key(key)[0]), node[key]
        if isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            return int(node.lc.item(key)[0]), node[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return None
