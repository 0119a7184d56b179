"""The indentation chosen from the data as loaded (`YamlDocument.editable`, before the first
edit) is the one chosen by parsing the text again at render time, and an edit made through it
writes the same bytes: checked on every YAML document of the test data (the goldens' inputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from gitbot.adapters.yamlio import YamlFile, YamlSyntaxError, choose_indent, dump_text, make_yaml

DATA = Path(__file__).parent / "data"


def documents() -> list[Any]:
    found = []
    for path in sorted(DATA.rglob("*.yaml")):
        rel = path.relative_to(DATA).as_posix()
        try:
            yfile = YamlFile(DATA, rel, path.read_text(encoding="utf-8"))
        except YamlSyntaxError:  # files that do not split are other tests' bad inputs
            continue
        for n, doc in enumerate(yfile.documents):
            if doc.index >= 0:
                found.append(pytest.param(rel, n, id=f"{rel}#{n}"))
    return found


def edit(data: Any) -> bool:
    """Change the first integer found (depth first), else add a key; False: not a mapping."""
    def first_int(node: Any) -> bool:
        items = list(node.items()) if isinstance(node, CommentedMap) else \
            list(enumerate(node)) if isinstance(node, CommentedSeq) else []
        for key, value in items:
            if isinstance(value, int) and not isinstance(value, bool):
                node[key] = value + 7
                return True
            if first_int(value):
                return True
        return False

    if not isinstance(data, CommentedMap):
        return False
    if not first_int(data):
        data["gitbotAdded"] = {"weight": 10}
    return True


@pytest.mark.parametrize(("rel", "n"), documents())
def test_indent_from_loaded_data_equals_a_fresh_parse(rel: str, n: int) -> None:
    text = (DATA / rel).read_text(encoding="utf-8")
    lazy, eager = YamlFile(DATA, rel, text), YamlFile(DATA, rel, text)
    doc_lazy, doc_eager = lazy.documents[n], eager.documents[n]
    try:
        data = make_yaml().load(doc_lazy.text)
    except YAMLError:
        pytest.skip("not YAML the editor loads")
    assert choose_indent(doc_lazy.text, data) == choose_indent(doc_lazy.text)
    assert dump_text(data) == dump_text(make_yaml().load(doc_lazy.text))  # no side effect
    if not (edit(doc_lazy.data) and edit(doc_eager.editable())):
        return
    doc_lazy.touch()
    doc_eager.touch()
    assert eager.render() == lazy.render()
