"""Split a YAML file into its documents with the line each starts on, and load them safely.

Used by `discovery` (to find Flux objects and say FILE:LINE), `origins` (to map a rendered
object back to its line) and `kustomize` (team kustomization files, kustomize's output). Every
load is within gitbot's YAML budgets (`gitbot.adapters.yamlbudget`: nesting depth, alias
expansion), so a 5,000-deep document or a billion-laughs bomb is a YAML error, never a
RecursionError or gigabytes of memory. Files that are not YAML (Helm templates) yield nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml.error import YAMLError

from gitbot.adapters.yamlbudget import safe_yaml

_SEPARATOR = re.compile(r"^---(\s|$)")


def _first_content_line(lines: list[str], start: int) -> int:
    for offset, text in enumerate(lines):
        stripped = text.strip()
        if stripped and not stripped.startswith("#") and not _SEPARATOR.match(text):
            return start + offset
    return start


def split_documents(text: str) -> list[tuple[int, str]]:
    """(1-based line of the document's first content line, document text) for each document."""
    chunks: list[tuple[int, list[str]]] = [(1, [])]
    for number, line in enumerate(text.splitlines(), start=1):
        if _SEPARATOR.match(line):
            chunks.append((number, [line]))
        else:
            chunks[-1][1].append(line)
    return [(_first_content_line(lines, start), "\n".join(lines)) for start, lines in chunks
            if any(ln.strip() and not ln.strip().startswith("#") and not _SEPARATOR.match(ln)
                   for ln in lines)]


def load_mappings(text: str, wanted: Callable[[str], bool] | None = None
                  ) -> list[tuple[int, Mapping[str, Any]]]:
    """The mapping documents of a file's text with their lines; [] when it is not readable
    YAML (or over the budgets).

    `wanted` picks, from its text, which documents are worth parsing (a speed-up for scans).
    """
    loader = safe_yaml()
    found: list[tuple[int, Mapping[str, Any]]] = []
    for line, chunk in split_documents(text):
        if wanted is not None and not wanted(chunk):
            continue
        try:
            doc = loader.load(chunk)
        except YAMLError:
            return []
        if isinstance(doc, Mapping):
            found.append((line, doc))
    return found


def load_all(text: str) -> list[Mapping[str, Any]]:
    """Every mapping document of a YAML stream (kustomize's output, a kustomization file);
    raises ruamel's YAMLError (a `YamlBudgetError` over the budgets)."""
    docs = safe_yaml().load_all(text)
    return [doc for doc in docs if isinstance(doc, Mapping)]


def load_one(text: str) -> Any:
    """One document within the budgets; None when it is not readable YAML."""
    try:
        return safe_yaml().load(text)
    except YAMLError:
        return None


def item_line(sequence: Any, index: int) -> int | None:
    """The 1-based line of a round-trip loaded sequence's item, None when unknown."""
    try:
        return int(sequence.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def key_line(mapping: Any, key: Any) -> int | None:
    """The 1-based line of a round-trip loaded mapping's key, None when unknown."""
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
