"""Turn markdown-it inline tokens into Tiptap inline nodes (text with marks, hard breaks, images).

Images come back as inline ``image`` nodes; the block converter moves them out of text blocks,
because the Tiptap image is a block node.
"""

from __future__ import annotations

import bisect
import html
import re
from typing import Any

from markdown_it.token import Token

from .schema import MARK_ATTRS, MARK_RANK

__all__ = ["decode_entities", "inline_nodes", "is_safe_url", "link_mark", "merge_text"]

Node = dict[str, Any]

_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|quot|amp));")
_NAMED = {"lt": "<", "gt": ">", "quot": '"', "amp": "&"}
_WINDOWS_1252 = {
    128: 8364, 130: 8218, 131: 402, 132: 8222, 133: 8230, 134: 8224, 135: 8225, 136: 710, 137: 8240,
    138: 352, 139: 8249, 140: 338, 142: 381, 145: 8216, 146: 8217, 147: 8220, 148: 8221, 149: 8226,
    150: 8211, 151: 8212, 152: 732, 153: 8482, 154: 353, 155: 8250, 156: 339, 158: 382, 159: 376,
}  # fmt: skip
_MARK_FOR = {"strong_open": "bold", "em_open": "italic", "s_open": "strike", "underline_open": "underline"}
_CLOSERS = frozenset({"strong_close", "em_close", "s_close", "underline_close", "link_close"})
_OPEN_TAG_RE = re.compile(r"<\s*([\w-]+)(?:\s|>|/|$)", re.IGNORECASE)
_CLOSING_TAG_RE = re.compile(r"</\s*[\w-]+", re.IGNORECASE)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BRACKET_ESCAPE_RE = re.compile(r"\\([\[\]])")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028\u2029\ufeff]+")
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_UNSAFE_SCHEMES = frozenset({"javascript", "vbscript", "livescript", "mocha", "data"})
_SAFE_DATA_IMAGE_RE = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp|avif|x-icon|svg\+xml)[;,]", re.IGNORECASE)


def _code_point(value: int) -> str:
    if value == 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "\ufffd"
    return chr(_WINDOWS_1252.get(value, value))


def _entity(match: re.Match[str]) -> str:
    dec, hexa, name = match.groups()
    if dec is not None:
        return _code_point(int(dec))
    if hexa is not None:
        return _code_point(int(hexa, 16))
    return _NAMED[name]


def decode_entities(text: str) -> str:
    """Tiptap's ``decodeHtmlEntities``: only ``&lt; &gt; &quot; &amp;`` and numeric references."""
    return _ENTITY_RE.sub(_entity, text) if "&" in text else text


def is_safe_url(url: str, *, image: bool = False) -> bool:
    """False for URLs that could run script: ``javascript:``, ``vbscript:``, ``data:`` (images may
    use ``data:image/…``), also when hidden behind entities, mixed case, whitespace or control chars."""
    probe = url
    for _ in range(3):
        decoded = html.unescape(probe)
        if decoded == probe:
            break
        probe = decoded
    probe = _CONTROL_RE.sub("", probe)
    match = _SCHEME_RE.match(probe)
    if not match:
        return True
    scheme = match.group(1).lower()
    if scheme == "data":
        return image and bool(_SAFE_DATA_IMAGE_RE.match(probe))
    return scheme not in _UNSAFE_SCHEMES


def link_mark(href: str, title: str | None) -> Node:
    """A complete ``link`` mark."""
    attrs = dict(MARK_ATTRS["link"])
    attrs["href"] = href
    attrs["title"] = title or None
    return {"type": "link", "attrs": attrs}


def _with_mark(marks: list[Node], mark: Node | None) -> list[Node]:
    """The mark set once ``mark`` opens inside ``marks``: one mark per type (the innermost
    link wins, nested emphasis of one kind collapses), in schema rank order."""
    if mark is None:
        return marks
    by_type = {m["type"]: m for m in marks}
    by_type[mark["type"]] = mark
    return sorted(by_type.values(), key=lambda m: MARK_RANK[m["type"]])


def _image(token: Token) -> Node:
    title = token.attrGet("title")
    return {
        "type": "image",
        "attrs": {
            "src": str(token.attrGet("src") or ""),
            "alt": _BRACKET_ESCAPE_RE.sub(r"\1", token.content),
            "title": str(title) if title else None,
            "width": None,
            "height": None,
        },
    }


_CLOSING_NAME_RE = re.compile(r"</\s*([\w-]+)")


def _html_pairs(children: list[Token]) -> dict[int, int]:
    """Tiptap pairs an inline open tag with the next sibling closing tag of the same name and
    keeps the whole span as literal text: index of the open tag → index of its closing tag."""
    frames = [-1]
    frame_of: list[int] = []
    closers: dict[tuple[int, str], list[int]] = {}
    for index, token in enumerate(children):
        if token.nesting < 0 and len(frames) > 1:
            frames.pop()
        frame_of.append(frames[-1])
        if token.type == "html_inline":
            match = _CLOSING_NAME_RE.match(token.content)
            if match:
                closers.setdefault((frames[-1], match.group(1).lower()), []).append(index)
        if token.nesting > 0:
            frames.append(index)
    pairs: dict[int, int] = {}
    if not closers:
        return pairs
    for index, token in enumerate(children):
        raw = token.content
        if token.type != "html_inline" or _CLOSING_TAG_RE.match(raw) or raw.endswith("/>"):
            continue
        match = _OPEN_TAG_RE.match(raw)
        candidates = closers.get((frame_of[index], match.group(1).lower())) if match else None
        if candidates:
            found = bisect.bisect_right(candidates, index)
            if found < len(candidates):
                pairs[index] = candidates[found]
    return pairs


def inline_nodes(children: list[Token], src: str) -> list[Node]:
    """Convert the children of one markdown-it ``inline`` token (``src`` is its content)."""
    out: list[Node] = []
    sets: list[list[Node]] = [[]]  # mark set of each open span, innermost last

    def add(text: str, code: bool = False) -> None:
        if not text:
            return
        node: Node = {"type": "text", "text": text}
        marks = [{"type": "code"}] if code else sets[-1]  # code excludes every other mark
        if marks:
            node["marks"] = marks
        out.append(node)

    pairs: dict[int, int] | None = None  # computed when the first raw HTML tag shows up
    index = 0
    count = len(children)
    while index < count:
        token = children[index]
        kind = token.type
        if kind == "text":
            add(decode_entities(token.content))
        elif kind == "text_special":
            add(token.content)
        elif kind == "code_inline":
            add(token.content, code=True)
        elif kind == "hardbreak":
            out.append({"type": "hardBreak"})
        elif kind == "softbreak":
            add("\n")
        elif kind in _MARK_FOR:
            sets.append(_with_mark(sets[-1], {"type": _MARK_FOR[kind]}))
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            title = token.attrGet("title")
            link = link_mark(href, str(title) if title else None) if is_safe_url(href) else None
            sets.append(_with_mark(sets[-1], link))
        elif kind in _CLOSERS:
            if len(sets) > 1:
                sets.pop()
        elif kind == "image":
            image = _image(token)
            if is_safe_url(image["attrs"]["src"], image=True):
                out.append(image)
            else:
                add(image["attrs"]["alt"])
        elif kind == "html_inline":
            raw = token.content
            if _BR_RE.fullmatch(raw):
                out.append({"type": "hardBreak"})
            else:
                if pairs is None:
                    pairs = _html_pairs(children)
                end = pairs.get(index, -1)
                if end >= 0 and token.meta and children[end].meta:
                    add(src[token.meta["start"] : children[end].meta["end"]])
                    index = end
                else:
                    add(raw)
        index += 1
    return merge_text(out)


def merge_text(nodes: list[Node]) -> list[Node]:
    """Join adjacent text nodes that carry equal marks (ProseMirror does this on creation)."""
    merged: list[Node] = []
    parts: list[str] = []  # pending texts of merged[-1] when it is a text node
    for node in nodes:
        if node["type"] == "text":
            if not node["text"]:
                continue
            if parts and merged[-1].get("marks") == node.get("marks"):
                parts.append(node["text"])
                continue
            if len(parts) > 1:
                merged[-1] = {**merged[-1], "text": "".join(parts)}
            parts = [node["text"]]
        else:
            if len(parts) > 1:
                merged[-1] = {**merged[-1], "text": "".join(parts)}
            parts = []
        merged.append(node)
    if len(parts) > 1:
        merged[-1] = {**merged[-1], "text": "".join(parts)}
    return merged
