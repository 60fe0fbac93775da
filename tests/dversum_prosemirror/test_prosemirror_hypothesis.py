"""Property tests: conversion never raises, always yields valid documents, and round-trips.

300 examples per property by default; ``DVERSUM_LONG_TESTS=1`` runs 5000.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dversum_prosemirror import doc_to_markdown, markdown_to_doc, normalize_doc, validate_doc

from .prosemirror_testlib import pm_check

EXAMPLES = 5000 if os.environ.get("DVERSUM_LONG_TESTS") == "1" else 300
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("DVERSUM_LONG_TESTS") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MARKDOWN_CHARS = [*"abcdeiuvxyzABCIVX 0123456789*_`[]()<>!#-+.)|:\\\n\t&;~\"'=/@$^{}", "ü", "€", "\u00a0", "ß"]
WORDS = ["Rechnung", "1.190,00 €", "z. B.", "ca.", "foo", "bar", "Q2", "a.", "iv.", "3.", "&amp;", "&copy;", "&#35;",
         "https://x.test/a_(b)", "www.x.test", "mail@x.test", "<u>u</u>", "<br>", "<b>", "</b>", "\\*", "`c`",
         "**b**", "*i*", "_i_", "~~s~~", "~s~", "[l](/u \"t\")", "[r]", "<https://x.test>", "|"]  # fmt: skip
# (images inside text are schema-invalid in Tiptap; the random-text test covers them)


def _line(words: list[str]) -> str:
    return " ".join(words)


@st.composite
def _inline(draw: Any) -> str:
    return _line(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8)))


@st.composite
def _block(draw: Any, depth: int = 0) -> str:
    kinds = ["p", "p", "h", "ul", "ol", "task", "quote", "code", "table", "hr"] + (["img"] if depth == 0 else [])
    kind = draw(st.sampled_from(kinds))
    text = draw(_inline())
    if kind == "p":
        lines = [text, *draw(st.lists(_inline(), max_size=2))]
        return draw(st.sampled_from(["\n", "  \n", "\\\n"])).join(lines)
    if kind == "h":
        return "#" * draw(st.integers(1, 6)) + " " + text
    if kind in ("ul", "ol", "task"):
        items = draw(st.lists(_inline(), min_size=1, max_size=4))
        start = draw(st.integers(0, 12))
        marks = {
            "ul": [draw(st.sampled_from(["-", "*", "+"])) + " "] * len(items),
            "ol": [f"{start + i}{draw(st.sampled_from(['.', ')']))} " for i in range(len(items))],
            "task": [f"- [{draw(st.sampled_from([' ', 'x']))}] " for _ in items],
        }[kind]
        out = []
        for marker, item in zip(marks, items, strict=True):
            entry = marker + item
            if depth < 2 and draw(st.booleans()):
                nested = draw(_block(depth + 1))
                pad = " " * len(marker)
                sep = draw(st.sampled_from(["\n", "\n\n"]))
                entry += sep + "\n".join(pad + line if line else "" for line in nested.split("\n"))
            out.append(entry)
        return draw(st.sampled_from(["\n", "\n\n"])).join(out)
    if kind == "quote":
        return "\n".join("> " + line for line in draw(_block(depth + 1)).split("\n")) if depth < 2 else "> " + text
    if kind == "code":
        return "```" + draw(st.sampled_from(["", "python", "js title=a"])) + "\n" + text + "\n```"
    if kind == "table":
        cols = draw(st.integers(1, 3))
        rows = draw(st.lists(st.lists(_inline(), min_size=cols, max_size=cols), min_size=1, max_size=3))
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        return lines[0] + "\n|" + "|".join(["---"] * cols) + "|\n" + "\n".join(lines[1:])
    if kind == "img":
        return "![Bild](https://x.test/b.png)"
    return "---"


@st.composite
def realistic_markdown(draw: Any) -> str:
    blocks = draw(st.lists(_block(), min_size=1, max_size=6))
    seps = draw(st.lists(st.sampled_from(["\n\n", "\n\n", "\n\n\n", "\n\n\n\n", "\n"]), min_size=len(blocks)))
    return "".join(block + sep for block, sep in zip(blocks, seps, strict=False))


def _check_valid(doc: dict[str, Any]) -> None:
    assert validate_doc(doc) == []
    assert pm_check(doc) is None


@PROFILE
@given(st.text(alphabet=st.sampled_from(MARKDOWN_CHARS), max_size=300))
def test_random_text_never_raises_and_is_valid(text: str) -> None:
    doc = markdown_to_doc(text)
    _check_valid(doc)
    assert normalize_doc(doc) == doc
    again = markdown_to_doc(doc_to_markdown(doc))
    _check_valid(again)


@PROFILE
@given(st.text(max_size=200))
def test_any_unicode_never_raises(text: str) -> None:
    _check_valid(markdown_to_doc(text))


@PROFILE
@given(realistic_markdown())
def test_realistic_markdown_fixpoint(markdown: str) -> None:
    first = markdown_to_doc(markdown)
    _check_valid(first)
    assert markdown_to_doc(doc_to_markdown(first)) == first


# --- documents built directly (as the editor might store them) -------------------------------

_TEXT = st.text(alphabet=st.sampled_from(MARKDOWN_CHARS + list("Hallo Welt ")), min_size=1, max_size=20)
_MARK = st.sampled_from(
    [
        {"type": "bold"},
        {"type": "italic"},
        {"type": "strike"},
        {"type": "underline"},
        {"type": "link", "attrs": {"href": "https://x.test/p?q=1"}},
    ]
)


@st.composite
def _text_node(draw: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": draw(_TEXT)}
    if draw(st.booleans()):
        node["marks"] = [{"type": "code"}]
    else:
        marks = draw(st.lists(_MARK, max_size=3, unique_by=lambda m: m["type"]))
        if marks:
            node["marks"] = marks
    return node


_INLINE = st.lists(st.one_of(_text_node(), st.just({"type": "hardBreak"})), max_size=5)


@st.composite
def _doc_block(draw: Any, depth: int = 0) -> dict[str, Any]:
    kind = draw(st.sampled_from(["paragraph", "heading", "codeBlock", "list", "quote", "hr", "image"]))
    if kind == "paragraph":
        return {"type": "paragraph", "content": draw(_INLINE)}
    if kind == "heading":
        return {"type": "heading", "attrs": {"level": draw(st.integers(1, 6))}, "content": draw(_INLINE)}
    if kind == "codeBlock":
        return {"type": "codeBlock", "attrs": {"language": draw(st.sampled_from([None, "py"]))}, "content": [
            {"type": "text", "text": draw(_TEXT)}]}  # fmt: skip
    if kind == "hr":
        return {"type": "horizontalRule"}
    if kind == "image":
        return {"type": "image", "attrs": {"src": "https://x.test/i.png", "alt": draw(_TEXT), "title": None}}
    if kind == "quote" or depth >= 2:
        return {"type": "blockquote", "content": [{"type": "paragraph", "content": draw(_INLINE)}]}
    list_type = draw(st.sampled_from(["bulletList", "orderedList", "taskList"]))
    item_type = "taskItem" if list_type == "taskList" else "listItem"
    items = []
    for _ in range(draw(st.integers(1, 3))):
        content = [{"type": "paragraph", "content": draw(_INLINE)}, *draw(st.lists(_doc_block(depth + 1), max_size=2))]
        item: dict[str, Any] = {"type": item_type, "content": content}
        if item_type == "taskItem":
            item["attrs"] = {"checked": draw(st.booleans())}
        items.append(item)
    return {"type": list_type, "content": items}


@PROFILE
@given(st.lists(_doc_block(), min_size=1, max_size=5))
def test_any_valid_document_serializes(blocks: list[dict[str, Any]]) -> None:
    doc = normalize_doc({"type": "doc", "content": blocks})
    markdown = doc_to_markdown(doc)
    assert isinstance(markdown, str)
    _check_valid(markdown_to_doc(markdown))
