"""Typed readers for the fields of a stored JSON object, with errors that name the field.

Called by `gitbot.core.state_json` (`state_from_json`) to read a state file back: a file edited
by hand or truncated gives a `StateFormatError` saying which field is wrong, never a TypeError
from deep inside a constructor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class StateFormatError(ValueError):
    """A stored state that cannot be read back: the message names the field."""


def fields_of(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise StateFormatError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def whole_field(data: Mapping[str, Any], key: str, where: str = "") -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StateFormatError(f"{where}{key}: expected a whole number >= 0, got {value!r}")
    return value


def text_field(data: Mapping[str, Any], key: str, where: str = "") -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise StateFormatError(f"{where}{key}: expected a string, got {value!r}")
    return value


def flag_field(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise StateFormatError(f"{where}{key}: expected true or false, got {value!r}")
    return value


def only_known(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise StateFormatError(f"{where.rstrip('.')}: unknown field {unknown[0]!r}")


def number_field(data: Mapping[str, Any], key: str, where: str) -> float | None:
    """A finite number, or None (null or absent)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
            or value in (float("inf"), float("-inf")):
        raise StateFormatError(f"{where}{key}: expected a number or null, got {value!r}")
    return float(value)


def list_field(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise StateFormatError(f"{where}{key}: expected a list, got {value!r}")
    return value
