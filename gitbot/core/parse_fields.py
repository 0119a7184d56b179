"""Typed readers over plain YAML data that record every problem with its line and field.

Used by the `gitbot.core.parse_*` modules: a `Report` collects `Problem`s for one document, and a
`Node` reads one mapping of it (`node.integer("stepWeight", ...)`), checking types and ranges and
reporting unknown keys. Nothing here raises on bad input; it reports and returns a fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitbot.core.parse_names import NameRule, name_problem
from gitbot.core.problems import Problem
from gitbot.core.spec import EMPTY, freeze

Key = str | int
FieldPath = tuple[Key, ...]
Locator = Callable[[FieldPath], int]


def dotted(at: FieldPath) -> str:
    """`("spec", "analysis", "metrics", 0, "name")` -> `analysis.metrics[0].name`."""
    parts = at[1:] if at[:1] == ("spec",) else at
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def type_name(value: Any) -> str:
    """A YAML-ish name for the type of `value`, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    return "list"


@dataclass
class Report:
    """Problems of one document: where it is, what it is, and how to find a field's line."""

    path: str
    kind: str
    locate: Locator
    obj: str = ""
    problems: list[Problem] = field(default_factory=list)

    def add(self, at: FieldPath, message: str) -> None:
        line = self.locate(at)
        self.problems.append(Problem(self.path, line, self.kind, self.obj, dotted(at), message))

    def root(self, data: Mapping[str, Any], at: FieldPath = ()) -> Node:
        return Node(self, at, data)


@dataclass(frozen=True)
class Node:
    """One mapping inside a document, at `at`."""

    report: Report
    at: FieldPath
    data: Mapping[str, Any]

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def check_keys(self, allowed: frozenset[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.report.add((*self.at, str(key)), "unknown field")

    def fail(self, key: Key, message: str) -> None:
        self.report.add((*self.at, key), message)

    def wrong_type(self, key: str, expected: str) -> None:
        got = type_name(self.data[key])
        self.fail(key, f"must be {expected}, got {got} {self.data[key]!r}")

    def child(self, key: str, required: bool = False) -> Node | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, Mapping):
            self.wrong_type(key, "a mapping")
            return None
        return Node(self.report, (*self.at, key), value)

    def string(self, key: str, default: str = "", required: bool = False) -> str:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                self.fail(key, "is required")
            return default
        if not isinstance(value, str):
            self.wrong_type(key, "a string")
            return default
        return value

    def name(self, key: str, rule: NameRule, default: str = "", required: bool = False) -> str:
        """A Kubernetes name (`rule`: label, subdomain, ...); a broken one is reported."""
        value = self.string(key, default, required)
        problem = name_problem(value, rule) if value and key in self.data else None
        if problem:
            self.fail(key, problem)
        return value

    def integer(
        self, key: str, default: int, low: int | None = None, high: int | None = None
    ) -> int:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong_type(key, "an integer")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(key, _range_text(low, high))
            return default
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong_type(key, "a number")
            return None
        return float(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.wrong_type(key, "true or false")
            return default
        return value

    def items(self, key: str) -> Iterator[tuple[FieldPath, Any]]:
        """The entries of a list field with their paths (nothing when absent or not a list)."""
        value = self.data.get(key)
        if value is None:
            return
        if not isinstance(value, list | tuple):
            self.wrong_type(key, "a list")
            return
        for index, item in enumerate(value):
            yield (*self.at, key, index), item

    def mappings(self, key: str) -> Iterator[Node]:
        """The entries of a list of mappings; other entries are reported."""
        for at, item in self.items(key):
            if isinstance(item, Mapping):
                yield Node(self.report, at, item)
            else:
                self.report.add(at, f"must be a mapping, got {type_name(item)}")

    def strings(self, key: str) -> tuple[str, ...]:
        found: list[str] = []
        for at, item in self.items(key):
            if isinstance(item, str):
                found.append(item)
            else:
                self.report.add(at, f"must be a string, got {type_name(item)} {item!r}")
        return tuple(found)

    def string_map(self, key: str) -> Mapping[str, str]:
        node = self.child(key)
        if node is None:
            return EMPTY
        good: dict[str, str] = {}
        for name, value in node.data.items():
            if isinstance(value, str):
                good[str(name)] = value
            else:
                node.wrong_type(str(name), "a string")
        return freeze(good)  # type: ignore[no-any-return]

    def free(self, key: str, expected: type = Mapping) -> Any:
        """A free-form (unchecked) sub-object such as an Istio `trafficPolicy`, deep-frozen."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, expected):
            self.wrong_type(key, "a mapping" if expected is Mapping else "a list")
            return None
        return freeze(value)


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"must be between {low} and {high}"
    if low is not None:
        return f"must be at least {low}"
    return f"must be at most {high}"
