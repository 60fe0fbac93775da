"""Tiptap's task-list tokenizer, ported as a markdown-it block rule.

Tiptap (``parseIndentedBlocks`` in ``@tiptap/core``) reads ``- [ ]``/``- [x]`` items before
any other block rule: lines indented deeper than an item belong to it, the ones that would
continue a paragraph join the task text, and the rest is read again, as a nested task list
when it starts with task items.
"""

from __future__ import annotations

import re

from markdown_it.rules_block.state_block import StateBlock

from ._block_common import (
    BULLET_INTERRUPT_RE,
    HEADING_RE,
    HR_RE,
    ITEM_PARENT,
    MAX_SUB_DEPTH,
    OL_INTERRUPT_RE,
    OL_ITEM_RE,
    TASK_RE,
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

__all__ = ["task_list_rule"]

_TASK_QUICK_RE = re.compile(rf"{WS}*[-+*]{WS}+\[[ xX]\]{WS}")


def _dedent(line: str, size: int) -> str:
    """Remove ``size`` columns of leading whitespace (tabs to the next multiple of 4)."""
    body = line.lstrip(" \t")
    ws = line[: len(line) - len(body)]
    if "\t" not in ws:
        return line[size:] if len(ws) >= size else body
    cols = 0
    for ch in ws:
        cols += 4 - cols % 4 if ch == "\t" else 1
    return " " * max(0, cols - size) + body


_BLOCK_TAGS = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir"
    "|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe"
    "|legend|li|link|main|menu|menuitem|meta|nav|noframes|ol|optgroup|option|p|param|search|section"
    "|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul"
)
_HTML_INTERRUPT_RE = re.compile(rf"</?(?:{_BLOCK_TAGS})(?: +|\n|/?>)|<(?:script|pre|style|textarea|!--)", re.IGNORECASE)
_SETEXT_RE = re.compile(r"(?:=+|-+) *")
_ONE_COLUMN_DELIM_RE = re.compile(r"(?:\| *)?:?-+:? *(?:\| *)?")


def _continues_paragraph(line: str) -> bool:
    """Would ``line`` continue a paragraph (marked's ``isParagraphContinuation``)?"""
    if OL_ITEM_RE.match(line) or TASK_RE.match(line):
        return False  # Tiptap's own tokenizers take these at any indentation
    text = line.lstrip(" ")
    if len(line) - len(text) >= 4:
        return True
    if text.startswith((">", "```", "~~~")) or HEADING_RE.match(text) or HR_RE.match(text):
        return False
    if BULLET_INTERRUPT_RE.match(text) or OL_INTERRUPT_RE.match(text) or _HTML_INTERRUPT_RE.match(text):
        return False
    if _SETEXT_RE.fullmatch(text):
        return False
    return not (_ONE_COLUMN_DELIM_RE.fullmatch(text) and ("|" in text or ":" in text))


def _task_items(state: StateBlock, lines: list[str]) -> tuple[list[tuple[bool, str, list[str]]], int]:
    """parseIndentedBlocks: (checked, main content, nested lines) per item, and lines consumed."""
    items: list[tuple[bool, str, list[str]]] = []
    index = 0
    while index < len(lines):
        match = TASK_RE.match(lines[index])
        if not match:
            if items:
                break
            if not trim(lines[index]):
                index += 1
                continue
            return [], 0
        indent = len(match.group(1))
        checked = match.group(3).lower() == "x"
        main = match.group(4)
        nested: list[str] = []
        index += 1
        while index < len(lines):
            line = lines[index]
            if not trim(line):
                ahead = next((ln for ln in lines[index + 1 :] if trim(ln)), None)
                if ahead is None or indent_len(ahead) <= indent:
                    break
            elif indent_len(line) <= indent:
                break
            nested.append(line)
            index += 1
        dedented = [_dedent(line, indent + 2) for line in nested]
        cont = 0
        for line in dedented:
            if not trim(line) or not _continues_paragraph(line):
                break
            cont += 1
        main = "\n".join([main, *(line.lstrip(TRIM_CHARS) for line in dedented[:cont])])
        items.append((checked, main, dedented[cont:]))
    return items, index


def _emit_tasks(state: StateBlock, lines: list[str], depth: int) -> int:
    items, consumed = _task_items(state, lines)
    if not items:
        return 0
    state.push("tt_task_list_open", "ul", 1)
    for checked, main, nested in items:
        state.push("tt_task_item_open", "li", 1).meta = {"checked": checked}
        push_paragraph(state, main, "task")
        text = "\n".join(nested)
        if trim(text):
            inner = text.split("\n")
            used = _emit_tasks(state, inner, depth + 1) if depth < MAX_SUB_DEPTH else 0
            remainder = "\n".join(inner[used:]) if used else text
            if trim(remainder):
                sub_parse(state, remainder)
        state.push("tt_task_item_close", "li", -1)
    state.push("tt_task_list_close", "ul", -1)
    return consumed


def task_list_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Tiptap's task-list tokenizer (``- [ ]``/``- [x]`` items, nested by indentation)."""
    first = first_line(state, start)
    if not _TASK_QUICK_RE.match(first):
        return False
    if silent:
        return state.parentType == ITEM_PARENT or (
            state.sCount[start] - state.blkIndent < 4 and bool(BULLET_INTERRUPT_RE.match(first))
        )
    window = WINDOW
    while True:
        lines = container_lines(state, start, min(end, start + window))
        _items, used = _task_items(state, lines)
        if used < len(lines) - 1 or start + window >= end:
            break
        window *= 4
    begin = len(state.tokens)
    consumed = _emit_tasks(state, lines, 0)
    if not consumed:
        return False
    state.tokens[begin].map = [start, start + consumed]
    state.line = start + consumed
    return True
