"""Tiptap document JSON → GFM Markdown that reads well and parses back to the same document.

``markdown_to_doc(doc_to_markdown(doc)) == doc`` holds for every document ``markdown_to_doc``
produces. Choices that make this work: blocks are separated by exactly one blank line, empty
paragraphs are written as ``&nbsp;`` (Tiptap's own convention), code is always fenced, lists are
tight only when every item is a single line of text, and literal text is escaped where a parser
would see structure in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._md_inline import encode_edges, escape_line_starts, render_inline, render_url
from ._roman import to_roman

__all__ = ["doc_to_markdown"]

Node = Mapping[str, Any]
_BULLETS = ("-", "*", "+")
_LISTS = frozenset({"bulletList", "orderedList", "taskList"})


def _content(node: Node) -> list[Node]:
    content = node.get("content")
    return [c for c in content if isinstance(c, Mapping)] if isinstance(content, list) else []


def _attrs(node: Node) -> Mapping[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, Mapping) else {}


def _indent(text: str, prefix: str, first: str | None = None) -> str:
    """Prefix every non-empty line; the first line gets ``first`` instead when given."""
    lines = text.split("\n")
    out = [(first if first is not None else prefix if lines[0] else "") + lines[0]]
    out.extend(prefix + line if line else "" for line in lines[1:])
    return "\n".join(out)


def _alpha(num: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    if num <= 26:
        return letters[max(num, 1) - 1]
    first, second = (num - 1) // 26 - 1, (num - 1) % 26
    return letters[second] if first < 0 else letters[first % 26] + letters[second]


def _marker(kind: object, number: int) -> str:
    if kind in ("a", "A"):
        text = _alpha(number)
        return (text.upper() if kind == "A" else text) + "."
    if kind in ("i", "I") and number > 0:
        text = to_roman(number)
        return (text.upper() if kind == "I" else text) + "."
    return f"{number}."


def _inline(node: Node, **options: Any) -> str:
    return render_inline(_content(node), **options)


def _paragraph(node: Node, *, nbsp: bool = True, trim_edges: bool = False) -> str:
    content = _content(node)
    if not content:
        return "&nbsp;" if nbsp else ""
    text = render_inline(content)
    if text in ("&nbsp;", "\u00a0"):
        return "\\&nbsp;" if text == "&nbsp;" else "&#160;"
    if trim_edges:
        text = encode_edges(text)
    return escape_line_starts(text)


def _heading(node: Node) -> str:
    level = _attrs(node).get("level", 1)
    level = level if isinstance(level, int) and 1 <= level <= 6 else 1
    content = _content(node)
    multiline = any("\n" in str(c.get("text", "")) for c in content)
    if multiline and level <= 2:
        text = escape_line_starts(encode_edges(render_inline(content, line_break="<br>")))
        return text + "\n" + ("===" if level == 1 else "---")
    text = render_inline(content, line_break="<br>").replace("\n", "&#10;")
    text = encode_edges(text)
    if text.endswith("#"):
        text = text[:-1] + "\\#"
    return "#" * level + (" " + text if text else "")


def _code_block(node: Node) -> str:
    text = "".join(str(c.get("text", "")) for c in _content(node))
    language = _attrs(node).get("language")
    info = str(language).replace("\\", "\\\\").replace("\n", " ") if language else ""
    runs = [len(m.group(0)) for m in re.finditer(r"`+", text)]
    char = "~" if "`" in info else "`"
    if char == "~":
        runs = [len(m.group(0)) for m in re.finditer(r"~+", text)]
    fence = char * max(3, max(runs, default=0) + 1)
    body = text + "\n" if text else ""
    return f"{fence}{info}\n{body}{fence}"


def _image(node: Node) -> str:
    attrs = _attrs(node)
    alt = str(attrs.get("alt") or "").replace("[", "\\[").replace("]", "\\]")
    src = render_url(str(attrs.get("src") or ""))
    title = attrs.get("title")
    title_part = ' "' + str(title).replace("\\", "\\\\").replace('"', '\\"') + '"' if title else ""
    return f"![{alt}]({src}{title_part})"


def _cell(node: Node) -> str:
    parts = []
    for block in _content(node):
        kind = block.get("type")
        if kind == "image":
            parts.append(_image(block))
        elif kind in ("paragraph", "heading"):
            parts.append(_inline(block, table=True, line_break="<br>").replace("\n", "&#10;"))
        else:
            parts.append(_plain_text(block).replace("|", "\\|").replace("\n", "<br>"))
    text = "<br>".join(part for part in parts if part)
    return encode_edges(text) if text else ""


def _plain_text(node: Node) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    return "\n".join(_plain_text(c) for c in _content(node))


def _table(node: Node) -> str:
    rows = [[_cell(cell) for cell in _content(row)] for row in _content(node)]
    rows = [row for row in rows if row]
    if not rows:
        return ""
    first_cells = _content(_content(node)[0]) if _content(node) else []
    width = len(rows[0])
    aligns = [_attrs(cell).get("align") for cell in first_cells[:width]]
    delimiter = {"left": ":---", "center": ":---:", "right": "---:"}
    lines = ["| " + " | ".join(rows[0]) + " |"]
    lines.append("| " + " | ".join(delimiter.get(str(a), "---") for a in aligns) + " |")
    for row in rows[1:]:
        cells = (row + [""] * width)[:width]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(line.replace("|  |", "| |") for line in lines)


def _is_simple_item(item: Node) -> bool:
    """An item that can sit in a tight list: one non-empty paragraph, maybe one nested list."""
    content = _content(item)
    if not content or content[0].get("type") != "paragraph":
        return False
    if not _content(content[0]):
        return len(content) == 1
    if len(content) == 1:
        return True
    return len(content) == 2 and content[1].get("type") in ("bulletList", "orderedList")


def _item_body(
    content: list[Node], tight: bool, *, nbsp_first: bool, keep_space: bool = False, in_item: bool = False
) -> tuple[str, str]:
    """Text for the marker line and for the indented lines that follow."""
    if not content:
        return ("" if keep_space else "&nbsp;" if nbsp_first else ""), ""
    head_node = content[0]
    rest = content[1:]
    if head_node.get("type") == "paragraph" and not _content(head_node) and rest and rest[0].get("type") == "image":
        head = _image(rest[0])
        rest = rest[1:]
    elif (
        head_node.get("type") == "paragraph"
        and not _content(head_node)
        and len(rest) > 1
        and rest[0].get("type") in _LISTS
    ):
        # a list on the marker line is what gives Tiptap an item starting with an empty paragraph
        head = render_blocks([rest[0]], in_item=in_item)
        rest = rest[1:]
    elif head_node.get("type") == "paragraph":
        head = _paragraph(head_node, nbsp=nbsp_first)
    else:
        head = render_blocks([head_node], in_item=in_item)
    body = render_blocks(rest, tight=tight, in_item=in_item)
    return head, body


def _bullet_list(node: Node, bullet: str) -> str:
    items = _content(node)
    tight = all(_is_simple_item(item) for item in items)
    out = []
    for item in items:
        content = _content(item)
        if len(content) == 1 and content[0].get("type") == "paragraph" and not _content(content[0]):
            out.append(bullet)
            continue
        head, body = _item_body(content, tight, nbsp_first=not tight, in_item=True)
        text = f"{bullet} " + _indent(head, "  ", "") if head else bullet
        if body:
            text += ("\n" if tight else "\n\n") + _indent(body, "  ")
        out.append(text)
    return ("\n" if tight else "\n\n").join(out)


def _raw_paragraph(node: Node) -> str:
    """Inside list items Tiptap reads later paragraphs of ordered items as raw text."""
    return "".join(str(c.get("text", "")) if c.get("type") == "text" else "\n" for c in _content(node))


def _ordered_list(node: Node, in_item: bool = False) -> str:
    attrs = _attrs(node)
    start = attrs.get("start", 1)
    start = start if isinstance(start, int) and not isinstance(start, bool) else 1
    kind = attrs.get("type")
    items = _content(node)
    only = _content(items[0]) if len(items) == 1 else []
    if len(only) == 1 and only[0].get("type") == "paragraph" and not _content(only[0]) and kind is None:
        return f"{start}."  # a bare marker: no other ordered list can take it as an item
    out = []
    for index, item in enumerate(items):
        marker = _marker(kind, start + index)
        pad = " " * len(marker)  # Tiptap's tokenizer strips (marker digits + 1) columns
        content = _content(item)
        head_node = content[0] if content else {"type": "paragraph"}
        rest = content[1:]
        if head_node.get("type") == "paragraph" and not _content(head_node) and rest and rest[0].get("type") == "image":
            head, rest = _image(rest[0]), rest[1:]
        elif head_node.get("type") == "paragraph":
            head = _paragraph(head_node, trim_edges=True)
        else:
            head, rest = "&nbsp;", content
        text = f"{marker} {_indent(head, pad, '')}"
        if rest:
            if in_item:
                parts = [
                    _raw_paragraph(b) if b.get("type") == "paragraph" else render_blocks([b], in_item=True)
                    for b in rest
                ]
                body = "\n\n".join(part for part in parts if part)
            else:
                body = render_blocks(rest)
            text += "\n\n" + _indent(body, pad)
        out.append(text)
    return "\n".join(out)


def _task_list(node: Node, in_item: bool = False) -> str:
    out = []
    for item in _content(node):
        checked = _attrs(item).get("checked") is True
        content = _content(item)
        head_node = content[0] if content and content[0].get("type") == "paragraph" else {"type": "paragraph"}
        rest = content[1:] if content and content[0] is head_node else content
        head = _paragraph(head_node, nbsp=False) if _content(head_node) else ""
        # Tiptap strips the indentation of a task's continuation lines: keep it as references
        head = re.sub(r"\n([ \t])", lambda m: f"\n&#{ord(m.group(1))};", head)
        text = f"- [{'x' if checked else ' '}] {_indent(head, '  ', '')}"
        if rest:
            text += "\n\n" + _indent(render_blocks(rest, in_item=in_item), "  ")
        out.append(text)
    return "\n".join(out)


def _block(node: Node, bullet: str = "-", in_item: bool = False) -> str:
    kind = node.get("type")
    if kind == "paragraph":
        return _paragraph(node)
    if kind == "heading":
        return _heading(node)
    if kind == "codeBlock":
        return _code_block(node)
    if kind == "blockquote":
        inner = render_blocks(_content(node)) or "&nbsp;"
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    if kind == "bulletList":
        return _bullet_list(node, bullet)
    if kind == "orderedList":
        return _ordered_list(node, in_item)
    if kind == "taskList":
        return _task_list(node, in_item)
    if kind == "horizontalRule":
        return "---"
    if kind == "image":
        return _image(node)
    if kind == "table":
        return _table(node)
    text = _plain_text(node)
    return escape_line_starts(text) if text else ""


def render_blocks(blocks: Sequence[Node], *, tight: bool = False, in_item: bool = False) -> str:
    """Render sibling blocks separated by blank lines (one newline inside tight list items).

    ``in_item``: the blocks sit in a bullet list item, where Tiptap lexes line by line.
    Adjacent bullet lists get different bullet characters, and a bullet list right before a
    task list avoids ``-`` (the task list's bullet), or they would merge into one list.
    """
    out: list[str] = []
    previous_bullet = ""
    for index, block in enumerate(blocks):
        bullet = "-"
        if block.get("type") == "bulletList":
            taken = {previous_bullet}
            following = blocks[index + 1].get("type") if index + 1 < len(blocks) else None
            if following == "taskList":
                taken.add("-")
            bullet = next(b for b in _BULLETS if b not in taken)
            previous_bullet = bullet
        else:
            previous_bullet = ""
        rendered = _block(block, bullet, in_item)
        if rendered:
            out.append(rendered)
    return ("\n" if tight else "\n\n").join(out)


def doc_to_markdown(doc: Mapping[str, Any]) -> str:
    """Render a Tiptap document as GFM Markdown (ends with a newline unless empty)."""
    blocks = _content(doc)
    if len(blocks) == 1 and blocks[0].get("type") == "paragraph" and not _content(blocks[0]):
        return ""
    text = render_blocks(blocks)
    return text + "\n" if text.strip() else ""
