"""How a round-trip dump of an edited document is made to look like the text it came from.

Used by `gitbot.adapters.yamlio` (which re-exports `make_yaml`, `dump_text`, `restore_nulls`
and `choose_indent`) and by the Helm values editor (`choose_indent`). ruamel.yaml writes one
indentation for a whole document and loses `~`/`null` written as values: `choose_indent`
finds the indentation whose no-edit round trip reproduces the text (the fewest changed lines),
and `restore_nulls` puts back what the dump lost or merely re-indented.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from difflib import SequenceMatcher
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.util import load_yaml_guess_indent

from gitbot.adapters.yamlbudget import budgeted

_NULLS = ("~", "null", "Null", "NULL")

Indent = tuple[int, int, int]  # mapping, sequence, offset


def make_yaml(indent: Indent = (2, 4, 2)) -> YAML:
    """A round-trip YAML instance with the fidelity settings (quotes kept, no folding).

    Loading with it stays within gitbot's YAML budgets (`gitbot.adapters.yamlbudget`).
    """
    yaml = budgeted(YAML())
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return yaml


def dump_text(data: Any, indent: Indent = (2, 4, 2)) -> str:
    """Dump one document's data as YAML text."""
    stream = io.StringIO()
    make_yaml(indent).dump(data, stream)
    return stream.getvalue()


def restore_nulls(original: str, dumped: str) -> str:
    """Put back `~`/`null` tokens dumped as empty values, and re-indented unchanged regions.

    A replaced region whose lines all kept their content (block scalars that ruamel
    indents by its own rule) is taken from the original text as a whole.
    """
    old = original.splitlines(keepends=True)
    new = dumped.splitlines(keepends=True)
    out: list[str] = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            out.extend(new[j1:j2])
            continue
        pairs = list(zip(old[i1:i2], new[j1:j2], strict=False))
        if i2 - i1 == j2 - j1 and all(_reindented(a, b) or _null_dropped(a, b) for a, b in pairs):
            out.extend(old[i1:i2])  # an unchanged region ruamel only re-indented
            continue
        head, tail = _kept_ends(old[i1:i2], new[j1:j2])
        out.extend(old[i1:i1 + head])  # unchanged lines before / after an insertion keep
        for k in range(head, j2 - j1 - tail):  # their own indentation (mixed-indent files)
            line = new[j1 + k]
            if k < i2 - i1 - tail:
                line = old[i1 + k] if _null_dropped(old[i1 + k], line) else _comment_gap(
                    old[i1 + k], line)
            out.append(line)
        out.extend(old[i2 - tail:i2])
    return "".join(out)


def _kept_ends(old: list[str], new: list[str]) -> tuple[int, int]:
    """How many leading and trailing lines of a replaced region only changed indentation
    (or lost a null token), when the region grew or shrank."""
    if len(old) == len(new):
        return 0, 0
    most = min(len(old), len(new))
    same = [_reindented(a, b) or _null_dropped(a, b) for a, b in zip(old, new, strict=False)]
    head = next((k for k, ok in enumerate(same[:most]) if not ok), most)
    back = [_reindented(a, b) or _null_dropped(a, b)
            for a, b in zip(reversed(old), reversed(new), strict=False)]
    tail = next((k for k, ok in enumerate(back[:most - head]) if not ok), most - head)
    return head, tail


# starts only where a run of blanks starts: tried inside a long run not followed by `#`, the
# search would be quadratic in the run's length (a 100 KB line of blanks: minutes)
_COMMENT = re.compile(r"(?<![ \t])([ \t]+)(#[^\n]*)(\n?)$")


def _comment_gap(old: str, new: str) -> str:
    """Keep the original spacing before an unchanged trailing comment of an edited line."""
    was, now = _COMMENT.search(old), _COMMENT.search(new)
    if was and now and was.group(2) == now.group(2) and was.group(1) != now.group(1):
        return new[: now.start()] + was.group(1) + now.group(2) + now.group(3)
    return new


def _reindented(old: str, new: str) -> bool:
    return old.strip() == new.strip() and old.strip() != ""


def _null_dropped(old: str, new: str) -> bool:
    for token in _NULLS:
        pattern = re.compile(r"(?<=[:\-]) +" + re.escape(token) + r"(?=[ \t]*(#.*)?\r?\n?$)")
        match = pattern.search(old)
        if match and _same_line(old[: match.start()] + old[match.end() :], new):
            return True
    return False


def _same_line(a: str, b: str) -> bool:
    lead_a = len(a) - len(a.lstrip(" "))
    lead_b = len(b) - len(b.lstrip(" "))
    return lead_a == lead_b and a.split() == b.split()


class _Unparsed:
    """Stands in for the YAML instance of `load_yaml_guess_indent` when the caller has the
    data already: only the text scan (the guess) runs."""

    def load(self, _text: str) -> None:
        return None


def choose_indent(text: str, data: Any = None) -> Indent:
    """The indentation whose no-edit round trip of `text` changes the fewest lines (ideally 0).

    `data`: `text` as `make_yaml().load` reads it, not edited since (`YamlDocument.editable`
    has it before the first edit): the text is then not parsed again."""
    if data is None:
        data, seq, offset = load_yaml_guess_indent(text, yaml=make_yaml())
    else:
        _none, seq, offset = load_yaml_guess_indent(text, yaml=_Unparsed())
    best: tuple[int, Indent] | None = None
    for indent in _indent_candidates(seq, offset):
        dumped = restore_nulls(text, dump_text(data, indent))
        diff = _changed_lines(text, dumped)
        if best is None or diff < best[0]:
            best = (diff, indent)
        if diff == 0:
            break
    assert best is not None
    return best[1]


def _indent_candidates(seq: int | None, offset: int | None) -> Iterator[Indent]:
    seen: set[Indent] = set()
    guesses: list[Indent] = []
    if seq is not None:
        off = offset if offset is not None else max(seq - 2, 0)
        guesses += [(2, seq, off), (seq, seq, off), (4, seq, off)]
    guesses += [(2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 4, 0), (4, 6, 4)]
    for cand in guesses:
        if cand not in seen and cand[1] >= cand[2] + 1:
            seen.add(cand)
            yield cand


def _changed_lines(a: str, b: str) -> int:
    old, new = a.rstrip("\n").splitlines(), b.rstrip("\n").splitlines()
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for t, i1, i2, j1, j2 in matcher.get_opcodes() if t != "equal")
