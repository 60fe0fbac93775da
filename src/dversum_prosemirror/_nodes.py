"""Small builders for Tiptap nodes, and the repair of text blocks that hold images.

Tiptap's image is a block node; where Markdown puts an image inside text, the text block is
split around it (whitespace and hard breaks at the cut are dropped) so the result stays valid.
"""

from __future__ import annotations

from typing import Any

from markdown_it.token import Token

from ._inline import merge_text
from ._inline_rules import unescape_punct

__all__ = ["code_block", "leading_paragraph", "list_node", "plain_paragraph", "text_block"]

Node = dict[str, Any]


def plain_paragraph(text: str) -> Node:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]} if text else {"type": "paragraph"}


def list_node(kind: str, attrs: Node | None, items: list[Node]) -> Node:
    node: Node = {"type": kind}
    if attrs is not None:
        node["attrs"] = attrs
    node["content"] = items
    return node


def leading_paragraph(content: list[Node]) -> list[Node]:
    if not content or content[0]["type"] != "paragraph":
        return [{"type": "paragraph"}, *content]
    return content


def code_block(token: Token) -> list[Node]:
    if token.type == "fence":
        if (token.meta or {}).get("indent", 0) > 0:
            return []
        info = token.info.strip()
        language = unescape_punct(info) or None
        text = token.content[:-1] if token.content.endswith("\n") else token.content
    else:
        language = None
        text = token.content.rstrip("\n")
    node: Node = {"type": "codeBlock", "attrs": {"language": language}}
    if text:
        node["content"] = [{"type": "text", "text": text}]
    return [node]


def _strip_edges(nodes: list[Node]) -> list[Node]:
    """Drop hard breaks and whitespace at both ends (used where an image split a text block)."""
    nodes = list(nodes)
    for edge in (0, -1):
        while nodes:
            node = nodes[edge]
            if node["type"] == "hardBreak":
                nodes.pop(edge)
                continue
            text = node["text"].lstrip() if edge == 0 else node["text"].rstrip()
            if text == node["text"]:
                break
            if text:
                nodes[edge] = {**node, "text": text}
                break
            nodes.pop(edge)
    return merge_text(nodes)


def text_block(kind: str, attrs: Node | None, nodes: list[Node]) -> list[Node]:
    """A paragraph or heading; inline images are moved out into their own block nodes."""

    def make(content: list[Node]) -> Node:
        node: Node = {"type": kind}
        if attrs is not None:
            node["attrs"] = attrs
        if content:
            node["content"] = content
        return node

    if not any(node["type"] == "image" for node in nodes):
        return [make(nodes)]
    if kind == "heading":
        text = _strip_edges([n for n in nodes if n["type"] != "image"])
        return [make(text), *(n for n in nodes if n["type"] == "image")]
    out: list[Node] = []
    run: list[Node] = []
    for node in [*nodes, None]:
        if node is None or node["type"] == "image":
            text = _strip_edges(run)
            if text:
                out.append(make(text))
            if node is not None:
                out.append(node)
            run = []
        else:
            run.append(node)
    return out
