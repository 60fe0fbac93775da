"""append_markdown, insert_markdown_after_heading, doc_text."""

from __future__ import annotations

import copy

import pytest

from dversum_prosemirror import (
    ProseMirrorError,
    append_markdown,
    doc_text,
    insert_markdown_after_heading,
    markdown_to_doc,
    validate_doc,
)

PAGE = markdown_to_doc(
    "# Projekt\n\nIntro\n\n## Ziele\n\n- a\n\n### Details\n\ntext\n\n## Budget\n\n1.190,00 €\n\n# Anhang\n\nx"
)


def _texts(doc: dict) -> list[str]:
    return [doc_text({"type": "doc", "content": [node]}) for node in doc["content"]]


def test_append_keeps_existing_nodes() -> None:
    original = copy.deepcopy(PAGE)
    result = append_markdown(PAGE, "**Neu** am Ende")
    assert all(new is old for new, old in zip(result["content"][:-1], PAGE["content"], strict=True))
    assert result["content"][-1] == markdown_to_doc("**Neu** am Ende")["content"][0]
    assert len(result["content"]) == len(PAGE["content"]) + 1
    assert original == PAGE
    assert validate_doc(result) == []


def test_append_replaces_empty_page() -> None:
    assert append_markdown({"type": "doc", "content": [{"type": "paragraph"}]}, "# Hi") == markdown_to_doc("# Hi")
    empty = {"type": "doc", "content": [{"type": "paragraph"}]}
    assert append_markdown(empty, "   ") == empty


def test_append_rejects_invalid_doc() -> None:
    with pytest.raises(ProseMirrorError, match="unknown node type"):
        append_markdown({"type": "doc", "content": [{"type": "nope"}]}, "x")


def test_insert_after_heading_section_end() -> None:
    result = insert_markdown_after_heading(PAGE, "  ziele ", "Neu")
    expected = ["Projekt", "Intro", "Ziele", "a", "Details", "text", "Neu", "Budget", "1.190,00 €", "Anhang", "x"]
    assert _texts(result) == expected
    kept = [node for node in result["content"] if _texts({"content": [node]}) != ["Neu"]]
    assert all(new is old for new, old in zip(kept, PAGE["content"], strict=True))


def test_insert_after_last_section_and_top_level_heading() -> None:
    assert _texts(insert_markdown_after_heading(PAGE, "Anhang", "Ende"))[-1] == "Ende"
    result = insert_markdown_after_heading(PAGE, "PROJEKT", "Neu")
    assert _texts(result)[-4:] == ["1.190,00 €", "Neu", "Anhang", "x"]


def test_insert_missing_heading_lists_headings() -> None:
    with pytest.raises(ProseMirrorError) as info:
        insert_markdown_after_heading(PAGE, "Fehlt", "x")
    assert str(info.value) == ("no heading 'Fehlt'; headings are: 'Projekt', 'Ziele', 'Details', 'Budget', 'Anhang'")
    with pytest.raises(ProseMirrorError, match=r"headings are: \(none\)"):
        insert_markdown_after_heading(markdown_to_doc("x"), "a", "b")


def test_doc_text() -> None:
    doc = markdown_to_doc("# T\n\nEin *Text*  \nmit Umbruch\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![Logo](x.png)")
    assert doc_text(doc) == "T\nEin Text\nmit Umbruch\na | b\n1 | 2\nLogo"
