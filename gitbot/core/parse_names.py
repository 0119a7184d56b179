"""Kubernetes' rules for object names, namespaces and Secret keys (apimachinery's validation).

A name taken from a repository document ends up in file names, PromQL label selectors, Git refs
and `<secretsDir>/<namespace>/<name>/<key>` paths, so it must be what Kubernetes itself would
accept: nothing else (no `/`, `..`, quotes or regex) can reach those places. Used by the
`gitbot.core.parse_*` modules (through `Node.name`) and, as defence in depth, by
`gitbot.adapters.secrets.SecretResolver`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    """One of Kubernetes' name formats: what it is called, its pattern and its length limit."""

    title: str
    pattern: re.Pattern[str]
    max_length: int
    hint: str


LABEL = NameRule(
    "a lowercase RFC 1123 label",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
    63,
    "lower case letters, digits and '-', starting and ending with a letter or digit",
)
SUBDOMAIN = NameRule(
    "a lowercase RFC 1123 subdomain",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"),
    253,
    "lower case letters, digits, '-' and '.', starting and ending with a letter or digit",
)
SERVICE = NameRule(
    "a DNS-1035 label (a Service name)",
    re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
    63,
    "lower case letters, digits and '-', starting with a letter and ending with a letter or "
    "digit",
)
SECRET_KEY = NameRule(
    "a Secret key",
    re.compile(r"[-._a-zA-Z0-9]+"),
    253,
    "letters, digits, '-', '_' and '.', and not '.', '..' or starting with '..'",
)

# Suffixes of the objects gitbot derives from a target or service name (Flagger's names).
PRIMARY_SUFFIX = "-primary"
CANARY_SUFFIX = "-canary"
SHOWN_LENGTH = 60


def name_problem(value: str, rule: NameRule) -> str | None:
    """Why `value` breaks `rule` (Kubernetes' wording, shortened), or None when it is valid."""
    if not value:
        return "must not be empty"
    if len(value) > rule.max_length:
        return (f"must be no more than {rule.max_length} characters, {shown(value)} has "
                f"{len(value)}")
    if rule.pattern.fullmatch(value) is None or _changes_directory(value, rule):
        return f"{shown(value)} is not {rule.title}: {rule.hint}"
    return None


def is_valid(value: str, rule: NameRule) -> bool:
    return name_problem(value, rule) is None


def derived_problem(base: str, suffixes: tuple[str, ...], rule: NameRule, what: str) -> str | None:
    """Why a name derived from `base` (`base` + suffix, as Flagger names them) breaks `rule`."""
    longest = max(len(s) for s in suffixes)
    if len(base) + longest <= rule.max_length:
        return None
    derived = " and ".join(f"'<name>{s}'" for s in suffixes)
    return (f"is too long ({len(base)} characters): gitbot derives {what} {derived} from it, "
            f"which must be no more than {rule.max_length} characters, so it can have at most "
            f"{rule.max_length - longest}")


def shown(value: str) -> str:
    """`value` quoted with escapes, cut to a readable length, for messages."""
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else f"{text[:SHOWN_LENGTH - 4]}...{text[-1]}"


def _changes_directory(value: str, rule: NameRule) -> bool:
    return rule is SECRET_KEY and (value == "." or value.startswith(".."))
