"""Budgets for parsing repository YAML: nesting depth and the size aliases expand to.

Used by every loader of repository text (`gitbot.adapters.yamlio.make_yaml`, `safe_yaml`
for `manifest_index` and `spec_documents`). The check runs inside composition, as each node is
built: a node deeper than `MAX_DEPTH` levels, a document whose aliases expand to more than
`MAX_NODES` nodes or `MAX_CHARS` scalar characters (a "billion laughs" bomb), or an alias to
a node that contains it raises `YamlBudgetError` (a ruamel `MarkedYAMLError`, so it carries the
line). Expanded sizes are memoised per node, so the cost is one addition per node and alias:
a bomb is refused after composing its few dozen real nodes, long before anything expands it
(ruamel shares aliased nodes; copying them into plain data is what would blow up).

A value its tag cannot hold (`2020-13-45`, `!!int abc`) raises ruamel's bare ValueError
without a line; the constructors here turn it into a `YamlValueError` at the value's line.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scanner import RoundTripScanner, Scanner

MAX_DEPTH = 100  # ruamel's round-trip loader itself dies at ~250 levels
MAX_NODES = 1_000_000  # expanded nodes per document (Kubernetes objects have thousands)
MAX_CHARS = 32 * 1024 * 1024  # expanded scalar characters per document


class YamlBudgetError(MarkedYAMLError):
    """A document over one of gitbot's YAML budgets; `problem` says which, with the limit."""


class YamlValueError(MarkedYAMLError):
    """A scalar that its (explicit or implicit) tag cannot convert, e.g. a 13th month."""


class BudgetComposer(Composer):
    """ruamel's Composer, counting depth and expanded size while it builds each node."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._level = 0
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, chars) expanded

    def compose_document(self) -> Any:
        self._level, self._sizes = 0, {}
        try:
            return super().compose_document()
        finally:
            self._sizes = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise YamlBudgetError(None, None, f"alias *{event.anchor} refers to a node "
                                      "that contains it (a recursive structure)",
                                      event.start_mark)
            return node
        self._level += 1
        if self._level > MAX_DEPTH:
            raise YamlBudgetError(None, None, f"nested deeper than {MAX_DEPTH} levels "
                                  "(gitbot's limit)", self.parser.peek_event().start_mark)
        node = super().compose_node(parent, index)
        self._level -= 1
        self._sizes[id(node)] = size = self._size(node)
        if size[0] > MAX_NODES or size[1] > MAX_CHARS:
            raise YamlBudgetError(
                None, None, f"expands to {size[0]} nodes and {size[1]} characters through "
                f"aliases, over gitbot's limit of {MAX_NODES} nodes and {MAX_CHARS} "
                "characters per document (a YAML bomb?)", node.start_mark)
        return node

    def _size(self, node: Node) -> tuple[int, int]:
        if isinstance(node, ScalarNode):
            return 1, len(node.value)
        children: list[Node] = []
        if isinstance(node, MappingNode):
            for key, value in node.value:
                children += (key, value)
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        nodes, chars = 1, 0
        for child in children:
            n, c = self._sizes[id(child)]
            nodes, chars = nodes + n, chars + c
        return nodes, chars


class _FlowDepth:
    """Scanner mixin: flow collections (`[[[...`) nested too deep are refused while scanning.

    The scanner reads a whole flow collection ahead before the composer sees its first
    node, in time quadratic in its depth, so the composer's depth check would come too late.
    """

    flow_level: int

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if self.flow_level >= MAX_DEPTH:
            mark = self.reader.get_mark()  # type: ignore[attr-defined]
            raise YamlBudgetError(None, None, f"flow collections nested deeper than "
                                  f"{MAX_DEPTH} levels (gitbot's limit)", mark)
        super().fetch_flow_collection_start(TokenClass, to_push)  # type: ignore[misc]


class BudgetScanner(_FlowDepth, Scanner):
    """The safe loader's scanner with the flow depth limit."""


class BudgetRoundTripScanner(_FlowDepth, RoundTripScanner):
    """The round-trip loader's scanner with the flow depth limit."""


class _MarkedValues:
    """Constructor mixin: a ValueError/TypeError while converting a node names its line."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, TypeError, OverflowError):
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise YamlValueError(None, None, f"invalid {kind} value", node.start_mark) from None


class MarkedSafeConstructor(_MarkedValues, SafeConstructor):
    """The safe loader's constructor, with lines on conversion errors."""


class MarkedRoundTripConstructor(_MarkedValues, RoundTripConstructor):
    """The round-trip loader's constructor, with lines on conversion errors."""


def budgeted(yaml: YAML) -> YAML:
    """The same YAML instance, loading within the budgets (pure-Python parser only)."""
    rt = isinstance(yaml.Scanner, type) and issubclass(yaml.Scanner, RoundTripScanner)
    yaml.Scanner = BudgetRoundTripScanner if rt else BudgetScanner
    yaml.Composer = BudgetComposer
    yaml.Constructor = MarkedRoundTripConstructor if rt else MarkedSafeConstructor
    return yaml


def safe_yaml() -> YAML:
    """A safe (plain data) loader within the budgets."""
    return budgeted(YAML(typ="safe", pure=True))


def rt_yaml() -> YAML:
    """A round-trip loader (line numbers kept) within the budgets."""
    return budgeted(YAML(typ="rt"))


def yaml_error_line(err: YAMLError, first: int = 1) -> int:
    """The 1-based line of a parse error in a text whose first line is line `first`."""
    if isinstance(err, MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        if mark is not None:
            return first + int(mark.line)
    return first


def yaml_error_text(err: YAMLError) -> str:
    """What is wrong, without the quoted text (it could be a Secret's)."""
    if isinstance(err, MarkedYAMLError):
        return str(err.problem or err.context or "syntax error")
    return str(err).splitlines()[0] if str(err) else "syntax error"
