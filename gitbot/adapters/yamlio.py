"""Round-trip YAML files with ruamel.yaml, keeping every untouched byte as it was.

Used by `gitbot.adapters.manifests` (the manifest editor) and `gitbot.adapters.bootstrap`.
A file is split at its document markers (`---`, `...`, `%` directives) into text segments;
each document is parsed on demand and only a document whose data was changed is dumped again,
so markers, comments between documents and the other documents stay byte-identical. The
indentation is detected per document (the setting whose no-edit round trip reproduces the
text wins), lines of 4096 characters are never folded, and the values ruamel loses (`~` and
`null` written as nothing) are restored from the original text. Files are read and written
through `gitbot.adapters.safefs` and parsed within the budgets of `gitbot.adapters.yamlbudget`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from gitbot.adapters import safefs
from gitbot.adapters.yaml_fidelity import (
    Indent,
    choose_indent,
    dump_text,
    make_yaml,
    restore_nulls,
)
from gitbot.adapters.yamlbudget import yaml_error_line, yaml_error_text
from gitbot.errors import InvalidInputError

_MARKER = re.compile(r"^(---|\.\.\.)([ \t]+#.*)?[ \t]*\r?\n?$")
_CONTENT_MARKER = re.compile(r"^(---|\.\.\.)[ \t]")
_RESOLVERS = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))

__all__ = ["Indent", "YamlDocument", "YamlFile", "YamlSyntaxError", "choose_indent", "dump_text",
           "is_ambiguous", "make_yaml", "quote_if_needed", "restore_nulls"]


class YamlSyntaxError(InvalidInputError):
    """A YAML file that cannot be parsed or split into documents safely."""


def is_ambiguous(text: str) -> bool:
    """True when YAML 1.1 or 1.2 would read this plain string as something else than a string."""
    return any(
        str(r.resolve(ScalarNode, text, (True, False))) != "tag:yaml.org,2002:str"
        for r in _RESOLVERS
    )


def quote_if_needed(value: Any, like: Any = None) -> Any:
    """A new string value in the style of the value it replaces; quoted when ambiguous."""
    if not isinstance(value, str) or isinstance(value, ScalarString):
        return value
    if isinstance(like, ScalarString) and "\n" not in value:
        return type(like)(value)
    if is_ambiguous(value) or value == "":
        return DoubleQuotedScalarString(value)
    return value


class YamlDocument:
    """One document of a file: its text, its line, and its data loaded on demand."""

    def __init__(self, file: YamlFile, text: str, line: int) -> None:
        self.file = file
        self.text = text
        self.line = line
        self.index = -1  # ordinal among the file's non-empty documents
        self.dirty = False
        self._data: Any = None
        self._loaded = False
        self._rendered: str | None = None  # the dump of the edited data, until touched again
        self._indent: tuple[str, Indent] | None = None  # (text, its indentation)

    @property
    def data(self) -> Any:
        """The round-trip data (ruamel CommentedMap/CommentedSeq); edit it, then `touch()`."""
        if not self._loaded:
            try:
                self._data = make_yaml().load(self.text)
            except YAMLError as err:
                raise self.syntax_error(err) from err
            self._loaded = True
        return self._data

    def editable(self) -> Any:
        """`data`, about to be edited: while it is still as loaded from `text`, the
        indentation is chosen now, from it (at render time the text would be parsed again
        to get the data as it was before the edit)."""
        data = self.data
        if not self.dirty and (self._indent is None or self._indent[0] != self.text):
            self._indent = (self.text, choose_indent(self.text, data))
        return data

    def syntax_error(self, err: YAMLError) -> YamlSyntaxError:
        """`err` (raised parsing this document's text) with the file's path and line."""
        start = self.line - _first_content_line(self.text.splitlines(), 0)
        line = yaml_error_line(err, start)
        return YamlSyntaxError(f"{self.file.rel}:{line}: cannot parse YAML: "
                               f"{yaml_error_text(err)}")

    def touch(self) -> None:
        """Mark the document changed so the file dumps it again (after every edit)."""
        self.dirty = True
        self._rendered = None
        self.file.touched = True

    def render(self) -> str:
        if not self.dirty:
            return self.text
        if self._rendered is None:  # dumped once per edit, however often it is asked
            out = restore_nulls(self.text, dump_text(self.data, self._text_indent()))
            if not self.text.endswith("\n") and out.endswith("\n"):
                out = out[:-1]
            self._rendered = out
        return self._rendered

    def saved(self) -> None:
        """Its file was written: the rendered text is the text now (dumped with the same
        indentation, which therefore stays chosen)."""
        if self.dirty:
            self.text = self.render()
            if self._indent is not None:
                self._indent = (self.text, self._indent[1])
        self.dirty, self._rendered = False, None

    def _text_indent(self) -> Indent:
        if self._indent is None or self._indent[0] != self.text:
            self._indent = (self.text, choose_indent(self.text))
        return self._indent[1]


class YamlFile:
    """A YAML file split into marker segments and documents; renders back byte for byte.

    `edits`: the set this file adds itself to whenever it becomes edited (`is_new`,
    `rewritten` or `touched` set), so that an index of thousands of files finds the few
    edited ones without looking at every file (`gitbot.adapters.manifest_index.FileTable`).
    """

    _EDIT_FLAGS = frozenset({"is_new", "rewritten", "touched"})

    def __init__(self, root: Path, rel: str, text: str) -> None:
        self.edits: set[YamlFile] | None = None
        self.root = root
        self.path = root / rel
        self.rel = rel
        self.original = text
        self.is_new = False
        self.rewritten = False  # parts added or replaced, not through a document (configs)
        self.touched = False  # a document was touched since the last save
        self.parts: list[str | YamlDocument] = []
        self._split(text)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if value is True and name in self._EDIT_FLAGS and self.edits is not None:
            self.edits.add(self)

    @classmethod
    def read(cls, root: Path, rel: str) -> YamlFile:
        """Repository file `rel` under `root`; `safefs.FileRefusedError` when not readable."""
        return cls(root, rel, safefs.read_text(root, rel))

    @classmethod
    def create(cls, root: Path, rel: str, text: str) -> YamlFile:
        """A file that does not exist yet; `changed` is True until saved."""
        new = cls(root, rel, text)
        new.original = ""
        new.is_new = True
        return new

    def _split(self, text: str) -> None:
        body: list[str] = []
        start = 1
        for number, line in enumerate(text.splitlines(keepends=True), start=1):
            if _MARKER.match(line) or line.startswith("%"):
                self._add_body(body, start)
                self.parts.append(line)
                body, start = [], number + 1
            elif _CONTENT_MARKER.match(line):
                raise YamlSyntaxError(f"{self.rel}:{number}: content after a document marker")
            else:
                body.append(line)
        self._add_body(body, start)
        for index, doc in enumerate(d for d in self.documents if _has_content(d.text)):
            doc.index = index

    def _add_body(self, lines: list[str], start: int) -> None:
        if lines:
            self.parts.append(YamlDocument(self, "".join(lines), _first_content_line(lines, start)))

    @property
    def documents(self) -> list[YamlDocument]:
        return [p for p in self.parts if isinstance(p, YamlDocument)]

    def render(self) -> str:
        return "".join(p if isinstance(p, str) else p.render() for p in self.parts)

    @property
    def edited(self) -> bool:
        """New, or a document was touched since the last save (cheap: nothing is rendered)."""
        return self.is_new or self.rewritten or self.touched

    @property
    def changed(self) -> bool:
        return self.edited and (self.is_new or self.render() != self.original)

    def save(self, text: str | None = None) -> bool:
        """Write the file when its text changed; True when written. `text`: `render()`'s
        result, when the caller has it already (a dump of a large file is not free)."""
        if not self.edited:
            return False
        text = self.render() if text is None else text
        if not self.is_new and text == self.original:  # edited back to what it was
            self._saved()
            return False
        safefs.write_text(self.root, self.rel, text)
        self.original, self.is_new = text, False
        self._saved()
        return True

    def _saved(self) -> None:
        self.rewritten = self.touched = False
        for doc in self.documents:
            doc.saved()


def _has_content(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def _first_content_line(lines: list[str], start: int) -> int:
    for offset, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            return start + offset
    return start
