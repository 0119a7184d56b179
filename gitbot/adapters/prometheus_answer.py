"""Read Prometheus' HTTP API answers (`/api/v1/query`) defensively, for `prometheus.py`.

Whatever the server sends — `{}`, `[]`, an HTML page, no `data` or `result`, a matrix where an
instant vector was expected, `+Inf`, a string — becomes a value, "no data" or an error text that
says what was wrong; nothing here raises. Flagger's rules: the last series of a vector wins, a
scalar counts, an empty vector or NaN is no data.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gitbot.core.queries import QueryOutcome

FAILED = "Prometheus query failed"

Sample = dict[str, Any]


def parse_answer(status: int, body: bytes) -> tuple[str, Any] | str:
    """(resultType, result) of a successful answer, or the error text."""
    try:
        data = json.loads(body)
    except ValueError:
        if status != 200:
            return f"HTTP {status}: {_snippet(body)}"
        return f"invalid response: not JSON: {_snippet(body)}"
    if not isinstance(data, dict):
        return f"invalid response: expected a JSON object, got {_kind(data)}"
    if status != 200 or data.get("status") != "success":
        return _api_error(status, data)
    if "data" not in data:
        return "invalid response: no 'data' object"
    inner = data["data"]
    if not isinstance(inner, dict):
        return f"invalid response: 'data' is {_kind(inner)}, not an object"
    if "result" not in inner or not isinstance(inner.get("resultType"), str):
        return "invalid response: no 'data.result' or 'data.resultType'"
    return inner["resultType"], inner["result"]


def outcome_of(answer: tuple[str, Any] | str) -> QueryOutcome:
    """One number: vector (last series wins), scalar or string; matrix is an error."""
    if isinstance(answer, str):
        return _error(answer)
    kind, result = answer
    if kind in ("scalar", "string"):
        return number(pair_value(result))
    if kind == "matrix":
        return _error("query returned multiple values per series (a range vector); an "
                      "instant vector or a scalar was expected")
    if kind != "vector":
        return _error(f"unexpected result type {kind!r}")
    samples = vector_of(answer, "")
    if isinstance(samples, str):
        return _error(samples)
    if not samples:
        return QueryOutcome(None)
    return number(pair_value(samples[-1].get("value")))


def vector_of(answer: tuple[str, Any] | str, promql: str) -> list[Sample] | str:
    """The samples of an instant vector, or an error text (without the `FAILED` prefix)."""
    if isinstance(answer, str):
        return answer
    kind, result = answer
    if kind != "vector":
        return f"{promql!r} did not return an instant vector (got {kind})"
    if not isinstance(result, list):
        return f"invalid response: vector result is {_kind(result)}, not a list"
    for sample in result:
        if not (isinstance(sample, dict) and isinstance(sample.get("metric", {}), dict)):
            return f"invalid response: malformed sample {_snippet(json.dumps(sample).encode())}"
    return list(result)


def number(text: Any) -> QueryOutcome:
    """A sample value: a finite number, no data (NaN), or an error (±Inf, not a number)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return _error(f"not a number: {str(text)[:50]!r}")
    if math.isnan(value):
        return QueryOutcome(None)
    if math.isinf(value):
        return _error(f"value is {text} (not a finite number)")
    return QueryOutcome(value)


def with_prefix(text: str) -> str:
    return f"{FAILED}: {text}"


def _error(text: str) -> QueryOutcome:
    return QueryOutcome(None, with_prefix(text))


def pair_value(pair: Any) -> Any:
    """The value of a `[timestamp, "value"]` pair, or None when it is not one."""
    if isinstance(pair, list) and len(pair) == 2:
        return pair[1]
    return None


def _api_error(status: int, data: dict[str, Any]) -> str:
    kind = str(data.get("errorType") or "error")
    text = str(data.get("error") or "")
    if status != 200:
        return f"HTTP {status}: {kind}: {text}"[:300]
    if "status" not in data:
        return "invalid response: no 'status' field"
    if data["status"] == "error":
        return f"{kind}: {text}"[:300]
    return f"invalid response: status {str(data['status'])[:20]!r}"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace").strip()
    return repr(text)
