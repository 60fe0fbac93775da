"""markdown-it paragraph rules that end paragraphs where marked does, and small rule wrappers.

At the top level marked ends a paragraph only at the CommonMark interrupters; inside a list
item it lexes line by line, so any block (and Tiptap's list tokenizers at any indentation)
can start on the next line. Paragraphs keep leading and trailing whitespace, as marked's do.
The wrappers leave a marker token where a link reference definition was (it separates blank
lines like any block in Tiptap) and record how far a code fence is indented.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markdown_it.rules_block.state_block import StateBlock

from ._block_common import ITEM_PARENT, OL_ITEM_RE, TASK_RE, item_mode

__all__ = ["BlockRule", "lheading_rule", "paragraph_rule", "wrap_fence", "wrap_reference"]

BlockRule = Callable[[StateBlock, int, int, bool], bool]


def _terminates(state: StateBlock, line: int, end: int, in_item: bool) -> bool:
    """Does ``line`` end the paragraph above it?

    At the top level marked only lets the CommonMark interrupters end a paragraph. Inside a
    list item marked lexes line by line, so every block rule gets its chance at every line;
    Tiptap's list tokenizers even at any indentation.
    """
    if in_item:
        text = state.getLines(line, line + 1, state.blkIndent, False)
        if OL_ITEM_RE.match(text) or TASK_RE.match(text):
            return True
    if state.sCount[line] - state.blkIndent > 3 or state.sCount[line] < 0:
        return False
    old = state.parentType
    state.parentType = ITEM_PARENT if in_item else "paragraph"
    try:
        return any(rule(state, line, end, True) for rule in state.md.block.ruler.getRules("paragraph"))
    finally:
        state.parentType = old


_CODE_INDENT_RE = re.compile(r"^(?: {1,4}| {0,3}\t)")


def _item_line(state: StateBlock, line: int, first: bool) -> str:
    """A paragraph line inside a list item as marked sees it: lazy lines keep their
    indentation, and lines indented as code lose it (marked appends the code block's text)."""
    if first:
        return state.getLines(line, line + 1, state.blkIndent, False)
    if 0 <= state.sCount[line] < state.blkIndent:
        text = state.src[state.bMarks[line] : state.eMarks[line]]
    else:
        text = state.getLines(line, line + 1, state.blkIndent, False)
    body = text.lstrip(" \t")
    if len(text.expandtabs(4)) - len(body) >= 4:
        text = _CODE_INDENT_RE.sub("", text)
    return text


def paragraph_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """CommonMark paragraph, but keeping leading and trailing whitespace like marked."""
    next_line = start + 1
    end = state.lineMax
    in_item = item_mode(state)
    while next_line < end and not state.isEmpty(next_line):
        if _terminates(state, next_line, end, in_item):
            break
        next_line += 1
    if in_item:
        content = "\n".join(_item_line(state, line, line == start) for line in range(start, next_line))
    else:
        content = state.getLines(start, next_line, state.blkIndent, False)
    state.line = next_line
    state.push("paragraph_open", "p", 1).map = [start, next_line]
    token = state.push("inline", "", 0)
    token.content = content
    token.map = [start, next_line]
    token.children = []
    state.push("paragraph_close", "p", -1)
    return True


def lheading_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Setext heading, ending its text at the same lines as :func:`paragraph_rule`."""
    if state.is_code_block(start):
        return False
    in_item = item_mode(state)
    level = 0
    next_line = start + 1
    while next_line < end and not state.isEmpty(next_line):
        if 0 <= state.sCount[next_line] - state.blkIndent <= 3:
            pos = state.bMarks[next_line] + state.tShift[next_line]
            maximum = state.eMarks[next_line]
            marker = state.src[pos] if pos < maximum else ""
            if marker in ("-", "=") and state.skipSpaces(state.skipCharsStr(pos, marker)) >= maximum:
                level = 1 if marker == "=" else 2
                break
        if _terminates(state, next_line, end, in_item):
            break
        next_line += 1
    if not level:
        return False
    content = state.getLines(start, next_line, state.blkIndent, False).strip(" \t\n")
    state.line = next_line + 1
    token = state.push("heading_open", f"h{level}", 1)
    token.markup = "=" if level == 1 else "-"
    token.map = [start, state.line]
    token = state.push("inline", "", 0)
    token.content = content
    token.map = [start, state.line - 1]
    token.children = []
    state.push("heading_close", f"h{level}", -1)
    return True


def wrap_reference(rule: BlockRule) -> BlockRule:
    """Leave a ``tt_def`` token where a link reference definition was (it separates blank lines)."""

    def reference(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        if not rule(state, start, end, silent):
            return False
        if not silent:
            state.push("tt_def", "", 0).map = [start, state.line]
        return True

    return reference


def wrap_fence(rule: BlockRule) -> BlockRule:
    """Record how far a code fence is indented (Tiptap drops indented fences)."""

    def fence(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        indent = state.sCount[start] - state.blkIndent
        if not rule(state, start, end, silent):
            return False
        if not silent:
            state.tokens[-1].meta = {"indent": indent}
        return True

    return fence
