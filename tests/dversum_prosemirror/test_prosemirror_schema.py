"""validate_doc, checked against the prosemirror PyPI package's own schema check."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dversum_prosemirror import ProseMirrorError, markdown_to_doc, normalize_doc, validate_doc

from .prosemirror_testlib import load_json, pm_check

CORPUS: dict[str, dict[str, Any]] = load_json("corpus_expected.json")["cases"]


def _p(*content: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "paragraph"}
    if content:
        node["content"] = list(content)
    return node


def _t(text: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": m} for m in marks]
    return node


def _doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "content": list(content)}


INVALID = {
    "unknown node": _doc(_p(_t("a")), {"type": "foo"}),
    "unknown mark": _doc(_p(_t("a", "blink"))),
    "empty doc": {"type": "doc", "content": []},
    "text at block level": _doc(_t("a")),
    "block in paragraph": _doc(_p({"type": "horizontalRule"})),
    "image in paragraph": _doc(_p(_t("a"), {"type": "image", "attrs": {"src": "x"}})),
    "empty blockquote": _doc({"type": "blockquote"}),
    "list item without paragraph first": _doc(
        {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "horizontalRule"}]}]}
    ),
    "empty list": _doc({"type": "bulletList", "content": []}),
    "task item in bullet list": _doc({"type": "bulletList", "content": [{"type": "taskItem", "content": [_p()]}]}),
    "duplicate mark": _doc(_p(_t("a", "bold", "bold"))),
    "code with bold": _doc(_p(_t("a", "bold", "code"))),
    "link with code": _doc(
        _p({"type": "text", "text": "a", "marks": [{"type": "link", "attrs": {"href": "x"}}, {"type": "code"}]})
    ),
    "marks in code block": _doc({"type": "codeBlock", "content": [_t("a", "bold")]}),
    "hard break in code block": _doc({"type": "codeBlock", "content": [{"type": "hardBreak"}]}),
    "empty text": _doc(_p(_t(""))),
    "wrong attribute type": _doc({"type": "taskList", "content": [{"type": "taskItem", "attrs": {"checked": "yes"}}]}),
    "bad heading level": _doc({"type": "heading", "attrs": {"level": 9}, "content": [_t("a")]}),
    "leaf with content": _doc({"type": "horizontalRule", "content": [_p()]}),
    "empty table cell": _doc(
        {"type": "table", "content": [{"type": "tableRow", "content": [{"type": "tableCell", "content": []}]}]}
    ),
    "row outside table": _doc({"type": "tableRow", "content": []}),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_docs_are_rejected_by_both(name: str) -> None:
    doc = INVALID[name]
    assert validate_doc(doc), name
    assert pm_check(doc), name


def test_valid_doc_with_every_node_and_mark() -> None:
    text = (
        "# H\n\n> q\n\n- a\n  - b\n\n1. c\n\n- [x] d\n\n```js\nx\n```\n\n---\n\n![i](https://x.test/i.png)\n\n"
        "| a |\n|---|\n| b |\n\n**b** *i* ~~s~~ `c` <u>u</u> [l](https://x.test) x  \ny"
    )
    doc = markdown_to_doc(text)
    assert validate_doc(doc) == [] and pm_check(doc) is None
    kinds = str(doc)
    for name in ("heading", "blockquote", "bulletList", "orderedList", "taskList", "codeBlock", "horizontalRule",
                 "image", "table", "tableHeader", "tableCell", "hardBreak", "bold", "italic", "strike", "code",
                 "underline", "link"):  # fmt: skip
        assert f"'{name}'" in kinds, name


def test_validator_agrees_with_prosemirror_on_all_oracle_documents() -> None:
    for case_id, case in CORPUS.items():
        result = case["result"]
        doc = result.get("doc", result)
        assert (validate_doc(doc) == []) == (pm_check(doc) is None), case_id


def test_accepted_like_prosemirror() -> None:
    """Marks in any order, unknown attributes and missing defaults are fine for ProseMirror too."""
    for doc in (
        _doc(_p(_t("a", "italic", "bold"))),
        _doc({"type": "heading", "attrs": {"level": 2, "id": "x"}, "content": [_t("a")]}),
        _doc({"type": "orderedList", "content": [{"type": "listItem", "content": [_p()]}]}),
        _doc({"type": "paragraph", "content": [], "marks": []}),
    ):
        assert validate_doc(doc) == []
        assert pm_check(doc) is None


def test_problem_paths() -> None:
    doc = _doc(_p(_t("a")), _p(_t("b")), {"type": "blockquote", "content": [{"type": "foo"}]})
    assert validate_doc(doc) == ["content[2].content[0]: unknown node type 'foo'"]
    assert validate_doc({"type": "paragraph"}) == ["doc: top-level node must be of type 'doc', got 'paragraph'"]
    assert validate_doc([1]) == ["doc: node must be an object, got list"]


def test_normalize_doc_canonical_form() -> None:
    doc = _doc(
        {"type": "heading", "content": [_t("a"), _t("b")]},
        {"type": "paragraph", "content": [], "marks": []},
        _p({"type": "text", "text": "x", "marks": [{"type": "italic"}, {"type": "link", "attrs": {"href": "u"}}]}),
    )
    assert normalize_doc(doc) == {
        "type": "doc",
        "content": [
            {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "ab"}]},
            {"type": "paragraph"},
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "marks": [
                            {
                                "type": "link",
                                "attrs": {
                                    "href": "u",
                                    "target": "_blank",
                                    "rel": "noopener noreferrer nofollow",
                                    "class": None,
                                    "title": None,
                                },
                            },
                            {"type": "italic"},
                        ],
                        "text": "x",
                    }
                ],
            },
        ],
    }
    original = copy.deepcopy(doc)
    normalize_doc(doc)
    assert doc == original  # input untouched


def test_normalize_doc_rejects_invalid() -> None:
    with pytest.raises(ProseMirrorError, match=r"content\[1\]: unknown node type 'foo'"):
        normalize_doc(INVALID["unknown node"])
    assert issubclass(ProseMirrorError, ValueError)
