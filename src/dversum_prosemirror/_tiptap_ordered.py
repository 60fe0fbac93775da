"""Tiptap's ordered-list tokenizer, ported as a markdown-it block rule.

Tiptap (``@tiptap/extension-list``) reads ordered lists line by line before any other block
rule: numbers, letters (``a.``, ``B)``) and roman numerals (``iv.``) at any indentation; the
first marker sets the list's ``start`` and ``type``; more indented items nest; an item's first
lines are its paragraph and the rest is lexed again as blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it.rules_block.state_block import StateBlock

from ._block_common import (
    BULLET_RE,
    FENCE_RE,
    HEADING_RE,
    HR_RE,
    INTERRUPTERS,
    ITEM_PARENT,
    MATH_RE,
    MAX_SUB_DEPTH,
    OL_INTERRUPT_RE,
    OL_ITEM_RE,
    QUOTE_RE,
    TRIM_CHARS,
    WINDOW,
    WS,
    container_lines,
    first_line,
    indent_len,
    push_paragraph,
    sub_parse,
    trim,
)
from ._roman import from_roman, to_roman

__all__ = ["ordered_list_rule"]

_OL_QUICK_RE = re.compile(rf"{WS}*([0-9]+|[ivxlcdmIVXLCDM]+|[a-zA-Z]{{1,2}})[.)]{WS}")


def _marker_type(marker: str) -> str | None:
    if marker.isdigit():
        return None
    if re.fullmatch("[ivxlcdmIVXLCDM]+", marker):
        value = from_roman(marker)
        expected = to_roman(value) if marker == marker.lower() else to_roman(value).upper()
        if value > 0 and expected == marker:
            return "i" if marker == marker.lower() else "I"
    if re.fullmatch("[a-z]{1,2}", marker):
        return "a"
    if re.fullmatch("[A-Z]{1,2}", marker):
        return "A"
    return None


def _marker_start(marker: str) -> int:
    if marker.isdigit():
        return int(marker)
    kind = _marker_type(marker)
    if kind in ("i", "I"):
        return from_roman(marker)
    if kind is None:
        return 1
    lower = marker.lower()
    if len(lower) == 1:
        return ord(lower) - 96
    return (ord(lower[0]) - 96) * 26 + ord(lower[1]) - 96


@dataclass
class _OlItem:
    indent: int
    number: int
    kind: str | None
    lines: list[str] = field(default_factory=list)


def _collect_ordered(lines: list[str]) -> tuple[list[_OlItem], int]:
    items: list[_OlItem] = []
    index = consumed = 0
    while index < len(lines):
        match = OL_ITEM_RE.match(lines[index])
        if not match:
            break
        indent, marker, content = len(match.group(1)), match.group(2), match.group(4)
        kind = _marker_type(marker)
        item = _OlItem(indent, int(marker) if marker.isdigit() else _marker_start(marker), kind, [content])
        index += 1
        saw_blank = False
        while index < len(lines):
            line = lines[index]
            if OL_ITEM_RE.match(line):
                break
            if not trim(line):
                item.lines.append("")
                saw_blank = True
            elif line[0] in TRIM_CHARS:
                item.lines.append(line[min(indent_len(line), indent + len(marker) + 1) :])
            elif saw_blank or any(rx.match(line) for rx in INTERRUPTERS):
                break
            else:
                item.lines.append(line)
            index += 1
        items.append(item)
        consumed = index
    return items, consumed


def _is_block_line(line: str) -> bool:
    text = line.lstrip(TRIM_CHARS)
    return bool(
        BULLET_RE.match(text)
        or OL_ITEM_RE.match(text)
        or HEADING_RE.match(text)
        or (HR_RE.match(text) and not text.startswith("-"))
        or QUOTE_RE.match(text)
        or FENCE_RE.match(text)
        or MATH_RE.match(text)
    )


def _emit_ordered(state: StateBlock, items: list[_OlItem], base: int, depth: int) -> None:
    first = items[0]
    token = state.push("tt_ordered_list_open", "ol", 1)
    token.meta = {"start": first.number or 1, "type": first.kind}
    index = 0
    while index < len(items):
        item = items[index]
        if item.indent != base:
            index += 1
            continue
        state.push("tt_list_item_open", "li", 1)
        para: list[str] = []
        rest: list[str] = []
        for line in item.lines:
            if rest or not trim(line) or (para and _is_block_line(line)):
                rest.append(line)
            else:
                para.append(line)
        main = trim("\n".join(para))
        if main:
            push_paragraph(state, main, "ol")
        extra = trim("\n".join(rest))
        if extra:
            sub_parse(state, extra)
        index += 1
        nested = []
        while index < len(items) and items[index].indent > base:
            nested.append(items[index])
            index += 1
        if nested:
            if depth >= MAX_SUB_DEPTH * 4:
                push_paragraph(state, "\n".join(trim("\n".join(n.lines)) for n in nested))
            else:
                _emit_ordered(state, nested, min(n.indent for n in nested), depth + 1)
        state.push("tt_list_item_close", "li", -1)
    state.push("tt_ordered_list_close", "ol", -1)


def ordered_list_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Tiptap's ordered-list tokenizer (numbers, letters, roman numerals; any indentation)."""
    first = first_line(state, start)
    if not _OL_QUICK_RE.match(first):
        return False
    if silent:
        # marked's paragraphs are only interrupted by lists starting at 1 (any list in list items)
        if state.parentType == ITEM_PARENT:
            return True
        return state.sCount[start] - state.blkIndent < 4 and bool(OL_INTERRUPT_RE.match(first))
    window = WINDOW
    while True:  # like Tiptap, read lines in a growing window instead of the whole rest
        lines = container_lines(state, start, min(end, start + window))
        items, consumed = _collect_ordered(lines)
        if consumed < len(lines) or start + window >= end:
            break
        window *= 4
    if not items:
        return False
    last = consumed
    while last > 1 and not trim(lines[last - 1]):
        last -= 1
    begin = len(state.tokens)
    _emit_ordered(state, items, items[0].indent, 0)
    state.tokens[begin].map = [start, start + last]
    state.tokens[begin].meta["raw"] = "\n".join(lines[:consumed])
    state.line = start + consumed
    return True
