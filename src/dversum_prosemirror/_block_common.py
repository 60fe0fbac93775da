"""Shared plumbing for the markdown-it rules that port Tiptap's block tokenizers.

Regular expressions (in JavaScript's notion of whitespace), the lines of the current
container, and nested re-parses: Tiptap hands parts of a list item back to the lexer, which
here is a nested markdown-it block parse wrapped in ``tt_sub_open``/``tt_sub_close`` tokens
that carry the sub-source.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from markdown_it.rules_block.state_block import StateBlock

from ._inline_rules import JS_WS

__all__ = [
    "BULLET_INTERRUPT_RE",
    "BULLET_RE",
    "FENCE_RE",
    "HEADING_RE",
    "HR_RE",
    "INTERRUPTERS",
    "ITEM_PARENT",
    "MATH_RE",
    "MAX_SUB_DEPTH",
    "OL_INTERRUPT_RE",
    "OL_ITEM_RE",
    "QUOTE_RE",
    "TASK_RE",
    "TRIM_CHARS",
    "WINDOW",
    "WS",
    "container_lines",
    "first_line",
    "indent_len",
    "item_mode",
    "push_paragraph",
    "sub_parse",
    "trim",
]

#: How deep Tiptap-style nested re-parses may go before content is kept as plain text.
MAX_SUB_DEPTH = 12
#: First number of lines a list tokenizer reads (grown while it consumes them all).
WINDOW = 16
#: ``state.parentType`` while a list item's paragraph checks which line ends it.
ITEM_PARENT = "tt_item"

WS = f"[{JS_WS}]"
TRIM_CHARS = JS_WS.replace("\u2000-\u200a", "".join(chr(c) for c in range(0x2000, 0x200B)))
_MARKER = r"([0-9]+|[ivxlcdmIVXLCDM]+|[a-zA-Z]{1,2})"
OL_ITEM_RE = re.compile(rf"^({WS}*){_MARKER}([.)]){WS}+(.*)$")
OL_INTERRUPT_RE = re.compile(r"1[.)][ \t]")
INTERRUPTERS = (
    re.compile(rf"^#{{1,6}}(?:{WS}|$)"),
    re.compile(rf"^[-+*]{WS}+"),
    re.compile(r"^(?:```|~~~)"),
    re.compile(r"^\$\$"),
    re.compile(r"^(?:(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|(?:\*[ \t]*){3,})$"),
)
HEADING_RE, BULLET_RE, FENCE_RE, MATH_RE, HR_RE = INTERRUPTERS
QUOTE_RE = re.compile(rf"^>{WS}?")
TASK_RE = re.compile(rf"^({WS}*)([-+*]){WS}+\[([ xX])\]{WS}+(.*)$")
BULLET_INTERRUPT_RE = re.compile(r"[-+*][ \t]")


def trim(text: str) -> str:
    """JavaScript's ``String.prototype.trim``."""
    return text.strip(TRIM_CHARS)


def indent_len(line: str) -> int:
    """Length of the leading (JavaScript) whitespace."""
    return len(line) - len(line.lstrip(TRIM_CHARS))


def item_mode(state: StateBlock) -> bool:
    """Inside a list item, where marked lexes line by line (its ``state.top`` is false)."""
    return state.parentType in ("list", ITEM_PARENT)


def container_lines(state: StateBlock, start: int, end: int) -> list[str]:
    """Lines from ``start`` as the current container sees them (its indentation removed)."""
    lines: list[str] = []
    for line in range(start, end):
        if line > start and not state.isEmpty(line) and state.sCount[line] < state.blkIndent:
            break
        lines.append(state.getLines(line, line + 1, state.blkIndent, False))
    return lines


def first_line(state: StateBlock, line: int) -> str:
    """Line ``line`` without its leading indentation."""
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def push_paragraph(state: StateBlock, text: str, kind: str = "plain") -> None:
    """Tokens of a paragraph whose inline content is ``text`` (``kind`` tells the converter its origin)."""
    state.push("paragraph_open", "p", 1).meta = {"kind": kind}
    token = state.push("inline", "", 0)
    token.content = text
    token.children = []
    state.push("paragraph_close", "p", -1)


def sub_parse(state: StateBlock, text: str) -> None:
    """Parse ``text`` as blocks (marked's ``lexer.blockTokens``) into the current token stream."""
    env: MutableMapping[str, Any] = state.env
    depth = env.get("tt_depth", 0)
    if depth >= MAX_SUB_DEPTH:
        push_paragraph(state, text)
        return
    env["tt_depth"] = depth + 1
    in_item = item_mode(state)
    state.push("tt_sub_open", "", 0).meta = {"src": text, "item": in_item}
    sub = StateBlock(text, state.md, env, state.tokens)
    if in_item:
        sub.parentType = "list"  # marked keeps lexing list-item content line by line
    state.md.block.tokenize(sub, sub.line, sub.lineMax)
    state.push("tt_sub_close", "", 0)
    env["tt_depth"] = depth
