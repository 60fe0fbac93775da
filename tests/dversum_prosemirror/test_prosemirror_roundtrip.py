"""Markdown → JSON → Markdown → JSON is a fixpoint; the serializer output is sane."""

from __future__ import annotations

from typing import Any

import pytest

from dversum_prosemirror import doc_to_markdown, markdown_to_doc, normalize_doc

from .prosemirror_testlib import PAGES, load_json

CORPUS: dict[str, dict[str, Any]] = load_json("corpus_expected.json")["cases"]
PAGE_NAMES = sorted(p.name for p in PAGES.glob("*.md"))


def _fixpoint_failures(texts: dict[str, str]) -> list[str]:
    failures = []
    for name, text in texts.items():
        first = markdown_to_doc(text)
        if markdown_to_doc(doc_to_markdown(first)) != first:
            failures.append(name)
    return failures


def test_corpus_fixpoint() -> None:
    assert _fixpoint_failures({cid: case["markdown"] for cid, case in CORPUS.items()}) == []


def test_pages_fixpoint() -> None:
    texts = {name: (PAGES / name).read_text(encoding="utf-8") for name in PAGE_NAMES}
    assert _fixpoint_failures(texts) == []


@pytest.mark.parametrize("name", PAGE_NAMES[:10])
def test_page_markdown_stays_readable(name: str) -> None:
    text = (PAGES / name).read_text(encoding="utf-8")
    markdown = doc_to_markdown(markdown_to_doc(text))
    assert markdown.endswith("\n") and not markdown.endswith("\n\n")
    # the serializer is close to what a person writes: no entity soup for ordinary pages
    assert "&#" not in markdown
    assert markdown.count("\\") <= text.count("\\") + 5


def test_outputs_are_canonical() -> None:
    for case in list(CORPUS.values())[:400]:
        doc = markdown_to_doc(case["markdown"])
        assert normalize_doc(doc) == doc


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("", ""),
        ("Hello", "Hello\n"),
        ("a\n\n\n\nb", "a\n\n&nbsp;\n\nb\n"),
        ("- [ ] todo\n- [x] done", "- [ ] todo\n- [x] done\n"),
        ("3. three\n4. four", "3. three\n4. four\n"),
        ("a. eins\nb. zwei", "a. eins\nb. zwei\n"),
        ("```python\nprint(1)\n```", "```python\nprint(1)\n```\n"),
        ("| a | b |\n|:-|-:|\n| 1 | 2 |", "| a | b |\n| :--- | ---: |\n| 1 | 2 |\n"),
        ("AT&amp;T, Müller & Söhne", "AT&T, Müller & Söhne\n"),
        ("\\*not em\\*", "\\*not em\\*\n"),
        ("z\\. B. so", "z\\. B. so\n"),
        ("one  \ntwo", "one\\\ntwo\n"),
        ('[docs](https://x.test/a "T")', '[docs](https://x.test/a "T")\n'),
        ("<https://x.test>", "[https\\://x.test](https://x.test)\n"),
    ],
)
def test_serializer_examples(markdown: str, expected: str) -> None:
    doc = markdown_to_doc(markdown)
    assert doc_to_markdown(doc) == expected
    assert markdown_to_doc(expected) == doc
