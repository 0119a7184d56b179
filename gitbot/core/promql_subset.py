"""A small PromQL parser for the query shapes gitbot may batch (MetricTemplates); stdlib only.

Used by `gitbot.core.template_batch`. `parse` turns a query into a tiny tree whose leaves keep
their tokens' places in the text, so the caller can edit a few spots (a matcher, a `by` list)
and leave every other character as the template's author wrote it. It knows a subset of
PromQL on purpose: numbers, selectors with a metric name, `[range]`, `offset`, function calls,
aggregations with `by`/`without` before or after the body, unary minus, parentheses and binary
operators with Prometheus' precedence and `bool`. Anything else — comments, single-quoted or
raw strings, quoted label names, `@`, subqueries, `on()`/`ignoring()`/`group_left()`, keywords
in capitals — raises `Unsupported`, and the caller keeps the query per canary. Which functions
and aggregations are safe to batch is the caller's decision, not the parser's.

Why not promql-parser from PyPI (Rust bindings, 0.11, maintained): its `str()` of a tree drops
the escapes of label values (`a="b\\"c"` comes back as `a="b"c"`), it declares Prometheus
2.45's grammar only, it would be the pure core's first compiled dependency, and any printer
sends a text other than the one each canary's own query sends; editing tokens in place does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+)(?![\w.])
    |(?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?![\w:.])
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<op>==|!=|>=|<=|=~|!~|[-+*/%^=<>(){}\[\],:])""",
    re.VERBOSE,
)
_AGGREGATORS = frozenset({"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
                          "quantile", "topk", "bottomk", "count_values", "limitk",
                          "limit_ratio"})
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "offset", "and", "or", "unless", "atan2", "start", "end"})
_BINARY = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
           "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6}
COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
SET_OPERATORS = frozenset({"and", "or", "unless"})
_UNARY_PRECEDENCE = 5  # Prometheus: `-a ^ b` is `-(a ^ b)`, `-a * b` is `(-a) * b`


class Unsupported(ValueError):
    """The query is outside the subset this parser knows (say what, for the log)."""


@dataclass(frozen=True)
class Token:
    kind: str  # ident, number, duration, string, op
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Num:
    token: Token


@dataclass(frozen=True)
class Matcher:
    label: str
    op: Token
    value: Token  # the quoted string, as written


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...]
    ranged: bool  # `name{...}[5m]`


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Grouping:
    kind: str  # by, without
    labels: tuple[str, ...]
    open: Token  # the parentheses around the labels
    close: Token


@dataclass(frozen=True)
class Aggregate:
    op: Token
    grouping: Grouping | None
    param: Node | None
    body: Node


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    bool: bool


@dataclass(frozen=True)
class Unary:
    operand: Node


@dataclass(frozen=True)
class Paren:
    inner: Node


Node = Num | Selector | Call | Aggregate | Binary | Unary | Paren


def tokenize(text: str) -> list[Token]:
    """The tokens of `text` (whitespace dropped); an unknown character is `Unsupported`."""
    tokens: list[Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            raise Unsupported(f"unexpected {text[at:at + 10]!r} at {at}")
        kind, at = match.lastgroup, match.end()
        word = match.group()
        if kind == "ident" and word.lower() in ("inf", "nan"):
            kind = "number"
        if kind != "space":
            tokens.append(Token(kind, word, match.start(), match.end()))
    return tokens


def parse(text: str) -> Node:
    """The tree of `text`, or `Unsupported`."""
    parser = _Parser(tokenize(text))
    node = parser.expression(0)
    if parser.peek() is not None:
        raise Unsupported(f"unexpected {parser.describe()}")
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def describe(self) -> str:
        token = self.peek()
        return "end of query" if token is None else f"{token.text!r} at {token.start}"

    def take(self, *texts: str, kind: str = "") -> Token:
        token = self.peek()
        if token is None or (texts and token.text not in texts) or (kind and token.kind != kind):
            raise Unsupported(f"expected {' or '.join(texts) or kind}, got {self.describe()}")
        self.at += 1
        return token

    def next_is(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("op", "ident") and token.text in texts

    def expression(self, floor: int) -> Node:
        node = self.unary()
        while (token := self.peek()) is not None and token.text in _BINARY \
                and token.kind in ("op", "ident") and _BINARY[token.text] > floor:
            self.at += 1
            is_bool = token.text in COMPARISONS and self.next_is("bool")
            if is_bool:
                self.at += 1
            if self.next_is("on", "ignoring", "group_left", "group_right"):
                raise Unsupported(f"vector matching modifier {self.describe()}")
            level = _BINARY[token.text]
            rhs = self.expression(level - 1 if token.text == "^" else level)
            node = Binary(token.text, node, rhs, is_bool)
        return node

    def unary(self) -> Node:
        if self.next_is("-", "+"):
            sign = self.take()
            operand = self.expression(_UNARY_PRECEDENCE)
            return operand if sign.text == "+" else Unary(operand)
        node = self.primary()
        if self.next_is("["):
            raise Unsupported(f"subquery at {self.describe()}")
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Num(token)
        if token.text == "(":
            inner = self.expression(0)
            self.take(")")
            return Paren(inner)
        if token.kind == "string":
            raise Unsupported(f"a string argument at {token.start}")
        if token.kind != "ident" or token.text.lower() in _KEYWORDS:
            raise Unsupported(f"unexpected {token.text!r} at {token.start}")
        if token.text.lower() in _AGGREGATORS:
            if token.text not in _AGGREGATORS:
                raise Unsupported(f"keyword in capitals {token.text!r} at {token.start}")
            return self.aggregate(token)
        if self.next_is("("):
            return Call(token.text, self.arguments())
        return self.selector(token.text)

    def arguments(self) -> tuple[Node, ...]:
        self.take("(")
        args: list[Node] = []
        while not self.next_is(")"):
            args.append(self.expression(0))
            if not self.next_is(")"):
                self.take(",")
        self.take(")")
        return tuple(args)

    def aggregate(self, op: Token) -> Aggregate:
        grouping = self.grouping()
        args = self.arguments()
        if grouping is None:
            grouping = self.grouping()
        if len(args) not in (1, 2):
            raise Unsupported(f"{op.text} at {op.start} takes one or two arguments")
        param = args[0] if len(args) == 2 else None
        return Aggregate(op, grouping, param, args[-1])

    def grouping(self) -> Grouping | None:
        if not self.next_is("by", "without"):
            return None
        kind = self.take().text
        start = self.take("(")
        labels: list[str] = []
        while not self.next_is(")"):
            labels.append(self.take(kind="ident").text)
            if not self.next_is(")"):
                self.take(",")
        return Grouping(kind, tuple(labels), start, self.take(")"))

    def selector(self, name: str) -> Selector:
        matchers: list[Matcher] = []
        if self.next_is("{"):
            self.take("{")
            while not self.next_is("}"):
                label = self.take(kind="ident")
                op = self.take("=", "!=", "=~", "!~")
                matchers.append(Matcher(label.text, op, self.take(kind="string")))
                if not self.next_is("}"):
                    self.take(",")
            self.take("}")
        ranged = self.next_is("[")
        if ranged:
            self.take("[")
            self.take(kind="duration")
            if self.next_is(":"):
                raise Unsupported(f"subquery at {self.describe()}")
            self.take("]")
        if self.next_is("offset"):
            self.take()
            if self.next_is("-"):
                self.take()
            self.take(kind="duration")
        if self.next_is("["):
            raise Unsupported(f"subquery or range at {self.describe()}")
        return Selector(name, tuple(matchers), ranged)
