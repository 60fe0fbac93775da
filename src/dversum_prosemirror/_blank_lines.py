"""Tiptap's empty paragraphs for extra blank lines, measured on markdown-it's token tree.

marked keeps blank lines as ``space`` tokens; Tiptap turns every blank-line pair beyond the
first into an empty paragraph, counting ``\n\n`` pairs in the raw text between two blocks
(minus one between blocks), with some tokenizers swallowing the newlines after them. Here the
same raw text is cut out of the source (top level, exactly) or rebuilt from line counts
(inside containers, where blank lines are taken to be empty).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from markdown_it.token import Token

__all__ = ["Bounds", "Item", "Source", "blanks_after", "blanks_before", "span", "tree"]

Bounds = tuple[int, int] | None
_ABSORBING = frozenset({"heading_open", "table_open", "tt_def", "html_block", "code_block"})
_LISTS = frozenset({"bullet_list_open", "ordered_list_open"})


class Item(NamedTuple):
    """A token with its nested tokens (``kids`` is None for leaf tokens)."""

    token: Token
    kids: list[Item] | None


def tree(tokens: list[Token]) -> list[Item]:
    """Nest the flat token stream (inline tokens keep their own children)."""
    root: list[Item] = []
    stack = [root]
    make = tuple.__new__  # skips NamedTuple's Python-level __new__ (hot path)
    for token in tokens:
        nesting = token.nesting
        if nesting == 1 or token.type == "tt_sub_open":
            kids: list[Item] = []
            stack[-1].append(make(Item, (token, kids)))
            stack.append(kids)
        elif nesting == -1 or token.type == "tt_sub_close":
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1].append(make(Item, (token, None)))
    return root


class Source:
    """A (sub-)document's text, for measuring the blank lines between top-level blocks."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.starts = [0] + [m.end() for m in re.finditer("\n", src)]

    def start(self, line: int) -> int:
        return self.starts[line] if line < len(self.starts) else len(self.src)

    def end(self, line: int) -> int:
        """Offset just after the text of ``line`` (where its newline is)."""
        nxt = self.start(line + 1)
        return nxt - 1 if nxt <= len(self.src) and line + 1 < len(self.starts) else len(self.src)


def span(item: Item) -> tuple[int, int]:
    """First line and end line (exclusive, without trailing blank lines) of a block."""
    token = item.token
    first, last = token.map or (0, 0)
    if token.type in _LISTS and item.kids:
        last_item = item.kids[-1]
        inner = [kid for kid in last_item.kids or [] if kid.token.map]
        last = span(inner[-1])[1] if inner else (last_item.token.map or (first, first + 1))[0] + 1
    return first, last


def _blank_paragraphs(raw: str, has_prev: bool, has_next: bool, prev: Item | None = None) -> int:
    """Tiptap turns each extra blank-line pair into an empty paragraph."""
    if prev is not None and prev.token.type == "tt_task_list_open" and raw == "\n":
        # the lone newline is added to the task list's source, which then ends in a blank line
        raw = "\n\n"
    elif has_prev and len(raw) <= 1:
        return 0
    count = raw.count("\n\n") - (1 if has_prev and has_next else 0)
    return max(count, 0)


def _after_absorbed(prev: Item | None, raw: str) -> str:
    """Headings, tables and definitions swallow the newlines after them; when whitespace-only
    lines follow, only what comes after the swallowed newlines counts."""
    if prev is None or prev.token.type not in _ABSORBING or prev.token.type in ("code_block", "html_block"):
        return raw
    pure = len(raw) - len(raw.lstrip("\n"))
    rest = raw[pure:]
    return rest if rest else raw


def _task_lead(prev: Item | None, gap_lines: int) -> int:
    """Blank lines before a task list are swallowed by Tiptap's task tokenizer, except what an
    ordered list (which keeps trailing blank lines in its own source) hands on."""
    if prev is not None and prev.token.type == "tt_ordered_list_open":
        return max(gap_lines // 2 - 1, 0)
    return 0


def _gap_text(src: Source | None, prev: Item | None, prev_end: int, first: int, bounds: tuple[int, int] | None) -> str:
    """The raw text marked sees between two blocks (``bounds`` given: inside a container)."""
    # a task list's source includes the newline that ends its last line
    has_prev = prev is not None
    own_newline = has_prev and prev is not None and prev.token.type == "tt_task_list_open"
    if src is not None and bounds is None:
        start = src.start(prev_end) if own_newline else src.end(prev_end - 1) if has_prev else 0
        return src.src[start : src.start(first)]
    return "\n" * (first - prev_end + (1 if has_prev and not own_newline else 0))


def _tail_text(src: Source | None, prev: Item | None, prev_end: int, bounds: tuple[int, int] | None) -> str:
    """The raw text after the last block of a container (or document)."""
    own_newline = prev is not None and prev.token.type == "tt_task_list_open"
    if src is not None and bounds is None:
        start = src.start(prev_end) if own_newline else src.end(prev_end - 1) if prev is not None else 0
        return src.src[start:]
    end = bounds[1] if bounds else prev_end
    return "\n" * max(end - prev_end - (1 if own_newline else 0), 0)


def blanks_before(src: Source | None, prev: Item | None, prev_end: int, item: Item, bounds: Bounds) -> int:
    """How many empty paragraphs Tiptap puts before ``item`` (``prev`` ended at ``prev_end``)."""
    first = span(item)[0]
    if item.token.type == "tt_task_list_open" and (prev is None or prev.token.type not in _ABSORBING):
        return _task_lead(prev, first - prev_end)
    raw = _after_absorbed(prev, _gap_text(src, prev, prev_end, first, bounds))
    return _blank_paragraphs(raw, prev is not None, True, prev)


def blanks_after(src: Source | None, prev: Item | None, prev_end: int, bounds: Bounds) -> int:
    """How many empty paragraphs Tiptap puts after the last block of a container."""
    raw = _after_absorbed(prev, _tail_text(src, prev, prev_end, bounds))
    return _blank_paragraphs(raw, prev is not None, False, prev)
