"""Unsafe URLs, raw HTML and pathological input."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dversum_prosemirror import doc_to_markdown, markdown_to_doc, validate_doc


def _links(doc: dict[str, Any]) -> list[str]:
    text = json.dumps(doc)
    return [part.split('"', 1)[0] for part in text.split('"href": "')[1:]]


def _images(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [node["attrs"] for node in doc["content"] if node["type"] == "image"]


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript&colon;alert(1)",
        "jav&#x09;ascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/png;base64,AAAA",
    ],
)
def test_unsafe_link_is_neutralised(href: str) -> None:
    for markdown in (f"[click me](<{href}>)", f"[click me][r]\n\n[r]: <{href}>"):
        doc = markdown_to_doc(markdown)
        assert _links(doc) == [], markdown
        assert doc["content"][0]["content"][0]["text"] == "click me"
        assert validate_doc(doc) == []


def test_unsafe_autolink_is_text() -> None:
    doc = markdown_to_doc("<javascript:alert(1)>")
    assert _links(doc) == []
    assert doc["content"][0]["content"][0]["text"] == "javascript:alert(1)"


def test_safe_links_are_kept() -> None:
    doc = markdown_to_doc("[a](https://x.test) [b](mailto:a@b.test) [c](/relative) [d](#anchor) www.x.test")
    assert _links(doc) == ["https://x.test", "mailto:a@b.test", "/relative", "#anchor", "http://www.x.test"]


def test_unsafe_image_becomes_alt_text() -> None:
    doc = markdown_to_doc("![the alt](javascript:alert(1))")
    assert _images(doc) == []
    assert doc["content"] == [{"type": "paragraph", "content": [{"type": "text", "text": "the alt"}]}]
    doc = markdown_to_doc("![](javascript:alert(1))")
    assert doc["content"] == [{"type": "paragraph"}]


def test_data_image_allowed_for_images() -> None:
    doc = markdown_to_doc("![dot](data:image/png;base64,iVBORw0KGgo=)")
    assert _images(doc)[0]["src"] == "data:image/png;base64,iVBORw0KGgo="
    doc = markdown_to_doc("![x](data:text/html;base64,PHNjcmlwdD4=)")
    assert _images(doc) == []


@pytest.mark.parametrize(
    "html",
    ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "<iframe src=//evil></iframe>", "<b>bold</b>"],
)
def test_raw_html_stays_literal_text(html: str) -> None:
    for markdown in (html, f"text {html} text"):
        doc = markdown_to_doc(markdown)
        text = "".join(node.get("text", "") for node in doc["content"][0].get("content", []))
        assert html in text
        assert markdown_to_doc(doc_to_markdown(doc)) == doc


def test_supported_html() -> None:
    doc = markdown_to_doc("a <u>under</u> b<br>c<br/>d")
    assert doc["content"][0]["content"] == [
        {"type": "text", "text": "a "},
        {"type": "text", "marks": [{"type": "underline"}], "text": "under"},
        {"type": "text", "text": " b"},
        {"type": "hardBreak"},
        {"type": "text", "text": "c"},
        {"type": "hardBreak"},
        {"type": "text", "text": "d"},
    ]


@pytest.mark.parametrize(
    "markdown",
    [
        ">" * 5000 + " deep",
        "- " * 3000 + "deep",
        "1. " * 3000 + "deep",
        "- [ ] " * 2000 + "deep",
        "".join(" " * i + "1. x\n" for i in range(1500)),
        "".join(" " * (2 * i) + "- [ ] x\n" for i in range(300)),
        "[" * 20000 + "]" * 20000,
        "*" * 20000 + "a" + "*" * 20000,
        "<u>" * 3000 + "x" + "</u>" * 3000,
        "`" * 5000 + "x",
        "\\" * 10000,
        "a  \n" * 5000,
        "| a |\n|---|\n" + "| b |\n" * 5000,
    ],
)
def test_pathological_input(markdown: str) -> None:
    started = time.perf_counter()
    doc = markdown_to_doc(markdown)
    assert validate_doc(doc) == []
    assert time.perf_counter() - started < 10
    markdown_to_doc(doc_to_markdown(doc))
