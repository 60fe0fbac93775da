"""Markdown → Tiptap document JSON, matching Tiptap's own ``@tiptap/markdown`` parser.

The token stream comes from markdown-it (configured in ``_parser``); this module builds the
Tiptap nodes the way Tiptap's extensions do (blank-line paragraphs, list quirks, HTML as text)
and repairs what Tiptap itself would leave schema-invalid (images inside text, list items
without a leading paragraph, empty blockquotes, duplicate or code-combined marks).
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterable, Iterator
from typing import Any

from ._blank_lines import Item, Source, blanks_after, blanks_before, span, tree
from ._inline import inline_nodes
from ._nodes import code_block, leading_paragraph, list_node, plain_paragraph, text_block
from ._parser import normalize_source, parse_inline, parse_tokens

__all__ = ["markdown_to_doc"]

Node = dict[str, Any]
_EMPTY_PARAGRAPH: Node = {"type": "paragraph"}
_TASK_PREFIX_RE = re.compile(r"\[([ xX])\][\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_TRAILING_WS_RE = re.compile(r"[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$")
_NBSP_TEXTS = frozenset({"&nbsp;", "\u00a0"})
_MAX_DEPTH = 64
_GC_PAUSE_BYTES = 32 * 1024


class _Converter:
    """Builds Tiptap nodes from markdown-it's token tree, following Tiptap's extensions."""

    def __init__(self) -> None:
        self.depth = 0

    # -- containers ---------------------------------------------------------------------------

    def blocks(
        self,
        items: list[Item],
        src: Source | None,
        implicit: bool,
        bounds: tuple[int, int] | None = None,
        trailing: bool = True,
    ) -> list[Node]:
        """Convert sibling blocks; with ``implicit``, blank-line runs become empty paragraphs."""
        out: list[Node] = []
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                return [plain_paragraph(_flat_text(items))]
            prev: Item | None = None
            prev_end = bounds[0] if bounds else 0
            for item in items:
                if item.token.map is None:
                    out.extend(self.block(item, src))
                    continue
                last = span(item)[1]
                if implicit:
                    out.extend({"type": "paragraph"} for _ in range(blanks_before(src, prev, prev_end, item, bounds)))
                out.extend(self.block(item, src))
                prev, prev_end = item, last
            if implicit and trailing:
                out.extend({"type": "paragraph"} for _ in range(blanks_after(src, prev, prev_end, bounds)))
            return out
        finally:
            self.depth -= 1

    # -- single blocks ------------------------------------------------------------------------

    def block(self, item: Item, src: Source | None) -> list[Node]:
        token = item.token
        kind = token.type
        kids = item.kids or []
        if kind == "paragraph_open":
            return self.paragraph(item, rules=not token.hidden and (token.meta or {}).get("kind") != "task")
        if kind == "heading_open":
            return text_block("heading", {"level": int(token.tag[1:])}, self.inline(kids))
        if kind == "blockquote_open":
            first, last = token.map or (0, 0)
            content = self.blocks(kids, src, True, (first, last))
            return [{"type": "blockquote", "content": content or [dict(_EMPTY_PARAGRAPH)]}]
        if kind == "bullet_list_open":
            return self.bullet_list(item, src)
        if kind == "ordered_list_open":
            start = int(token.attrGet("start") or 1) or 1
            items = [self.loose_item(kid, src, raw_text=True) for kid in kids]
            return [list_node("orderedList", {"start": start, "type": None}, items)]
        if kind == "tt_ordered_list_open":
            meta = token.meta or {}
            items = [self.loose_item(kid, src) for kid in kids]
            return [list_node("orderedList", {"start": meta.get("start", 1), "type": meta.get("type")}, items)]
        if kind == "tt_task_list_open":
            return [list_node("taskList", None, [self.task_item(kid, src) for kid in kids])]
        if kind == "tt_sub_open":
            return self.blocks(kids, Source((token.meta or {}).get("src", "")), False)
        if kind in ("code_block", "fence"):
            return code_block(token)
        if kind == "hr":
            return [{"type": "horizontalRule"}]
        if kind == "html_block":
            text = _TRAILING_WS_RE.sub("", token.content)
            return [{"type": "paragraph", "content": [{"type": "text", "text": text}]}] if text else []
        if kind == "table_open":
            return [self.table(item)]
        return []

    def inline(self, kids: list[Item]) -> list[Node]:
        for kid in kids:
            if kid.token.type == "inline":
                return inline_nodes(kid.token.children or [], kid.token.content)
        return []

    def paragraph(self, item: Item, rules: bool) -> list[Node]:
        kids = item.kids or []
        inline = next((kid.token for kid in kids if kid.token.type == "inline"), None)
        children = (inline.children or []) if inline else []
        nodes = self.inline(kids)
        if rules and len(children) == 1:
            only = children[0]
            if only.type == "image" and len(nodes) == 1 and nodes[0]["type"] == "image":
                return nodes
            if only.type == "text" and only.content in _NBSP_TEXTS:
                return [{"type": "paragraph"}]
        return text_block("paragraph", None, nodes)

    def bullet_list(self, item: Item, src: Source | None) -> list[Node]:
        kids = item.kids or []
        tasks = [_task_info(kid) for kid in kids]
        last = len(kids) - 1
        if not any(tasks):
            return [list_node("bulletList", None, [self.list_item(kid, src, i == last) for i, kid in enumerate(kids)])]
        out: list[Node] = []
        for index, kid in enumerate(kids):
            info = tasks[index]
            kind = "taskList" if info else "bulletList"
            node = self.mixed_task_item(kid, src, info) if info else self.list_item(kid, src, index == last)
            if out and out[-1]["type"] == kind:
                out[-1]["content"].append(node)
            else:
                out.append({"type": kind, "content": [node]})
        return out

    def list_item(self, item: Item, src: Source | None, last: bool) -> Node:
        kids = item.kids or []
        first, end = item.token.map or (0, 0)
        if len(kids) == 1 and kids[0].token.type == "tt_ordered_list_open" and (kids[0].token.map or [-1])[0] == first:
            raw = (kids[0].token.meta or {}).get("raw")
            if raw is not None and last:
                raw = _TRAILING_WS_RE.sub("", raw)  # marked trims the last item's text
            if raw is not None:
                return {"type": "listItem", "content": text_block("paragraph", None, _parse_inline(raw))}
        content: list[Node] = []
        rest = kids
        if kids and kids[0].token.type == "heading_open":
            content = text_block("paragraph", None, self.inline(kids[0].kids or []))
            rest = kids[1:]
        content += self.blocks(rest, src, True, (first, end), trailing=not last)
        return {"type": "listItem", "content": leading_paragraph(content)}

    def loose_item(self, item: Item, src: Source | None, raw_text: bool = False) -> Node:
        """Items of ordered lists: every child converted on its own (Tiptap's ``parseListItems``).

        Paragraphs that marked lexed as list-item "text" come out as their raw source text.
        """
        content: list[Node] = []
        for kid in item.kids or []:
            token = kid.token
            if raw_text and token.type == "paragraph_open" and token.hidden:
                content.append(plain_paragraph(_inline_source(kid)))
            elif token.type == "tt_sub_open" and (token.meta or {}).get("item"):
                sub_src = Source((token.meta or {}).get("src", ""))
                for sub in kid.kids or []:
                    if sub.token.type == "paragraph_open":
                        content.append(plain_paragraph(_inline_source(sub)))
                    else:
                        content.extend(self.blocks([sub], sub_src, False))
            else:
                content.extend(self.blocks([kid], src, False))
        return {"type": "listItem", "content": leading_paragraph(content)}

    def task_item(self, item: Item, src: Source | None) -> Node:
        content = self.blocks(item.kids or [], src, False)
        checked = bool((item.token.meta or {}).get("checked"))
        return {"type": "taskItem", "attrs": {"checked": checked}, "content": leading_paragraph(content)}

    def mixed_task_item(self, item: Item, src: Source | None, info: tuple[bool, str]) -> Node:
        """A task item inside a bullet list: Tiptap keeps the first line as the task text and
        lexes the remaining lines again as blocks."""
        checked, main = info
        head, _, tail = main.partition("\n")
        content = text_block("paragraph", None, _parse_inline(head))
        tail = tail.strip()
        if tail:
            content += self.blocks(tree(parse_tokens(tail)), Source(tail), False)
        content += self.blocks((item.kids or [])[1:], src, False)
        return {"type": "taskItem", "attrs": {"checked": checked}, "content": leading_paragraph(content)}

    def table(self, item: Item) -> Node:
        rows: list[Node] = []
        for section in item.kids or []:
            for row in section.kids or []:
                cells = []
                for cell in row.kids or []:
                    style = str(cell.token.attrGet("style") or "")
                    align = style.partition("text-align:")[2].strip() or None
                    cell_type = "tableHeader" if cell.token.type == "th_open" else "tableCell"
                    blocks = text_block("paragraph", None, self.inline(cell.kids or []))
                    attrs = {"colspan": 1, "rowspan": 1, "colwidth": None, "align": align}
                    cells.append({"type": cell_type, "attrs": attrs, "content": blocks or [dict(_EMPTY_PARAGRAPH)]})
                row_node: Node = {"type": "tableRow"}
                if cells:
                    row_node["content"] = cells
                rows.append(row_node)
        return {"type": "table", "content": rows}


def _task_info(item: Item) -> tuple[bool, str] | None:
    """(checked, text after the checkbox) when a bullet item starts with ``[ ]``/``[x]``."""
    kids = item.kids or []
    if not kids or kids[0].token.type != "paragraph_open":
        return None
    inline = next((k.token for k in kids[0].kids or [] if k.token.type == "inline"), None)
    match = _TASK_PREFIX_RE.match(inline.content) if inline else None
    if not inline or not match:
        return None
    return match.group(1) in "xX", inline.content[match.end() :]


def _inline_source(item: Item) -> str:
    return next((k.token.content for k in item.kids or [] if k.token.type == "inline"), "")


def _parse_inline(text: str) -> list[Node]:
    return inline_nodes(parse_inline(text), text)


def _flat_text(items: Iterable[Item]) -> str:
    parts: list[str] = []
    for item in items:
        if item.token.type in ("inline", "code_block", "fence", "html_block"):
            parts.append(item.token.content)
        if item.kids:
            parts.append(_flat_text(item.kids))
    return "\n".join(part for part in parts if part)


@contextlib.contextmanager
def _gc_paused(size: int) -> Iterator[None]:
    """For large input, pause the cyclic garbage collector while the token stream is alive.

    A 1 MB page produces some 150 000 markdown-it tokens; every collection the conversion's
    own allocations trigger would walk all of them again, which makes big documents about
    twice as slow. Nothing built here is cyclic, so pausing loses nothing; the previous state
    is restored on exit.
    """
    if size < _GC_PAUSE_BYTES or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def markdown_to_doc(markdown: str) -> dict[str, Any]:
    """Convert Markdown to a Tiptap document; always schema-valid, never raises."""
    if not isinstance(markdown, str):
        markdown = str(markdown)
    try:
        source = normalize_source(markdown)
        with _gc_paused(len(source)):
            content = _Converter().blocks(tree(parse_tokens(source)), Source(source), True)
    except Exception:  # the converter is total by design; this is the last line of defence
        content = [plain_paragraph(part) for part in markdown.split("\n\n") if part.strip()]
    return {"type": "doc", "content": content or [{"type": "paragraph"}]}
