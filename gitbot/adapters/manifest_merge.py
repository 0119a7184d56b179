"""Minimal in-place merge of desired plain data into ruamel round-trip nodes.

Used by the manifest editor (`gitbot.adapters.manifests`) for every edit: a scalar is assigned
only when its value differs (keeping the old quoting style; a new string that YAML 1.1 would
read as a bool or number is double-quoted), same-shaped mappings are merged key by key in
their existing order, sequences element by element (appending or removing the tail), and
anything else is replaced. Each change is recorded as `(field path, old, new)` with plain values.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarfloat import ScalarFloat
from ruamel.yaml.scalarint import ScalarInt

from gitbot.adapters.yamlio import quote_if_needed

Changes = list[tuple[str, Any, Any]]


def plain(value: Any) -> Any:
    """Ordinary Python data (dict, list, str, int, float, bool, None) from ruamel nodes."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, ScalarInt):
        return int(value)
    if isinstance(value, ScalarFloat):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def same_scalar(a: Any, b: Any) -> bool:
    """Equal as YAML values: `1` differs from `true` and from `"1"`."""
    pa, pb = plain(a), plain(b)
    if isinstance(pa, bool) or isinstance(pb, bool):
        return type(pa) is type(pb) and pa == pb
    if isinstance(pa, str) != isinstance(pb, str):
        return False
    return bool(pa == pb)


def to_node(value: Any, like: Any = None) -> Any:
    """A node for new data: ruamel nodes are deep-copied, plain data converted and quoted."""
    if isinstance(value, CommentedMap | CommentedSeq):
        return copy.deepcopy(value)
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = to_node(item)
        return node
    if isinstance(value, list | tuple):
        return CommentedSeq(to_node(item) for item in value)
    return quote_if_needed(value, like)


def merge_value(old: Any, want: Any, path: str, out: Changes, prune: bool = True) -> Any:
    """Merge `want` into `old`; returns the node to keep (the same object when merged).

    With `prune`, keys of nested mappings that `want` lacks are removed.
    """
    if isinstance(old, CommentedMap) and isinstance(want, Mapping):
        merge_mapping(old, want, path, out, prune=prune)
        return old
    if isinstance(old, CommentedSeq) and isinstance(want, list | tuple) and (
        len(old) == len(want) or prune
    ):
        merge_sequence(old, want, path, out, prune)
        return old
    is_scalar = not isinstance(old, Mapping | list) and not isinstance(want, Mapping | list | tuple)
    if is_scalar and same_scalar(old, want):
        return old
    out.append((path, plain(old), plain(want)))
    return to_node(want, like=old)


def merge_sequence(old: CommentedSeq, want: list[Any] | tuple[Any, ...], path: str,
                   out: Changes, prune: bool) -> None:
    """Merge item by item; items past the shorter end are appended or removed.

    Keeps the comments and layout of the common items (a destination list that grows from one
    to two entries keeps the first one's comments).
    """
    for index, item in enumerate(want[: len(old)]):
        new = merge_value(old[index], item, f"{path}[{index}]", out, prune)
        if new is not old[index]:
            old[index] = new
    for index in range(len(old) - 1, len(want) - 1, -1):
        out.append((f"{path}[{index}]", plain(old[index]), None))
        del old[index]
    for index in range(len(old), len(want)):
        old.append(to_node(want[index]))
        out.append((f"{path}[{index}]", None, plain(want[index])))


def merge_mapping(
    node: CommentedMap,
    want: Mapping[str, Any],
    path: str,
    out: Changes,
    keep: frozenset[str] = frozenset(),
    prune: bool = True,
) -> None:
    """Merge a desired mapping; with `prune`, keys not desired are removed unless in `keep`.

    Nested mappings are always pruned when `prune` is set (`keep` applies to this level only).
    """
    for key, value in want.items():
        where = f"{path}.{key}" if path else str(key)
        if key in node:
            new = merge_value(node[key], value, where, out, prune)
            if new is not node[key]:
                node[key] = new
        else:
            node[key] = to_node(value)
            out.append((where, None, plain(value)))
    if not prune:
        return
    for key in [k for k in node if k not in want and k not in keep]:
        out.append((f"{path}.{key}" if path else str(key), plain(node[key]), None))
        del node[key]


def set_path(node: CommentedMap, dotted: str, value: Any, out: Changes) -> None:
    """Set one value at a dotted path of mapping keys, creating mappings on the way."""
    keys = dotted.split(".")
    for key in keys[:-1]:
        if not isinstance(node.get(key), CommentedMap):
            node[key] = CommentedMap()
        node = node[key]
    parent = dotted.rsplit(".", 1)[0] if "." in dotted else ""
    merge_mapping(node, {keys[-1]: value}, parent, out, prune=False)


def remove_path(node: CommentedMap, dotted: str, out: Changes) -> None:
    """Remove the key at a dotted path when it exists."""
    keys = dotted.split(".")
    for key in keys[:-1]:
        if not isinstance(node.get(key), CommentedMap):
            return
        node = node[key]
    if keys[-1] in node:
        out.append((dotted, plain(node[keys[-1]]), None))
        del node[keys[-1]]
