"""Where a document of the repository came from (`Source`: path, line, document index) and what
is wrong with one (`Problem`, printed `FILE:LINE: Kind namespace/name: field: message`).

`Source` is carried by the spec values of `gitbot.core.spec`; `Problem` is reported by the pure
parsers (`gitbot.core.parse*`) and the repository loaders (`gitbot.adapters.specs`,
`flux_specs`, `helm_specs`, `repo_index`), and printed by `gitbot validate`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a document came from: repository-relative path, 1-based line, document index."""

    path: str
    line: int
    document: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as `FILE:LINE: Kind namespace/name: field: message`."""

    path: str
    line: int
    kind: str
    obj: str  # "namespace/name", or "" when unknown
    field: str  # dotted path such as "analysis.stepWeight", or "" for the whole document
    message: str

    def __str__(self) -> str:
        subject = f"{self.kind} {self.obj}".strip() if self.obj or self.kind else "document"
        where = f"{self.field}: " if self.field else ""
        return f"{self.path}:{self.line}: {subject}: {where}{self.message}"
