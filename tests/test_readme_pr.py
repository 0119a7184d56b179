"""The README's pull-request-mode section shows a promotion PR body as the code writes it: the
same sections, in the same order, as the golden body `promotion_body` is pinned to."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
START, END = "<!-- promotion-pr-body:start -->", "<!-- promotion-pr-body:end -->"


def _headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ")]


def test_readme_shows_a_generated_promotion_body() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme
    body = readme.split(START, 1)[1].split(END, 1)[0]
    golden = (Path(__file__).parent / "data" / "pr_promotion.md").read_text(encoding="utf-8")
    quoted = "\n".join(line.removeprefix("> ").removeprefix(">") for line in body.splitlines())
    assert _headings(quoted) == _headings(golden)
    assert "gitbot proposes to promote `test/podinfo`" in quoted
    assert "xychart-beta" in quoted and "run `gitbot approve test/podinfo`" in quoted
