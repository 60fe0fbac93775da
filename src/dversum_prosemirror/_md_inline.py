"""Render Tiptap inline content (text with marks, hard breaks) as Markdown that parses back.

Text is escaped only where the parser would otherwise read structure into it, so the output
stays readable: ``Müller & Söhne`` stays as is, ``AT&amp;T`` (literal) becomes ``AT\\&amp;T``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import MARK_RANK

__all__ = ["encode_edges", "escape_line_starts", "render_inline", "render_url"]

_ENTITY_AHEAD_RE = re.compile(r"&(?=#\d{1,7};|#[xX][0-9a-fA-F]{1,6};|(?:lt|gt|quot|amp);)")
_TAG_START_RE = re.compile(r"<(?=[A-Za-z/!?])")
_SCHEME_RE = re.compile(r"((?i:https?|ftp))(:)(?=//)")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._+-]+(@)[a-zA-Z0-9\-_]+(?:\.[a-zA-Z0-9\-_]*[a-zA-Z0-9])+")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ORDERED_START_RE = re.compile(r"([ \t]*)([0-9]+|[a-zA-Z]{1,2}|[ivxlcdmIVXLCDM]+)([.)])(?=[\s]|$)")
_HR_DASH_RE = re.compile(r"(?:-[ \t]*){3,}|-+[ \t]*")
_DELIM_ROW_RE = re.compile(r"[ \t|:\-]*-[ \t|:\-]*")
_OPEN = {"bold": "**", "italic": "*", "strike": "~~", "underline": "<u>"}
_CLOSE = {"bold": "**", "italic": "*", "strike": "~~", "underline": "</u>"}
_WS = " \t\n\r\f\v"

Node = Mapping[str, Any]


def _is_space(ch: str) -> bool:
    return ch == "" or ch.isspace()


def _is_alnum(ch: str) -> bool:
    return bool(ch) and not ch.isspace() and unicodedata.category(ch)[0] not in "PSZ"


def _escape_text(text: str, in_table: bool) -> str:
    out: list[str] = []
    n = len(text)
    for i, ch in enumerate(text):
        prev = text[i - 1] if i else ""
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "\\":
            out.append("\\\\" if (nxt == "" or nxt in _ASCII_PUNCT or nxt == "\n") else "\\")
        elif ch in "`[]":
            out.append("\\" + ch)
        elif ch in "*~":
            out.append(ch if (_is_space(prev) and prev and _is_space(nxt) and nxt) else "\\" + ch)
        elif ch == "_":
            out.append(ch if _is_alnum(prev) and _is_alnum(nxt) else "\\_")
        elif ch == "|" and in_table:
            out.append("\\|")
        else:
            out.append(ch)
    result = "".join(out)
    if "&" in result:
        result = _ENTITY_AHEAD_RE.sub(r"\\&", result)
    if "<" in result:
        result = _TAG_START_RE.sub(r"\\<", result)
    if "://" in result:
        result = _SCHEME_RE.sub(r"\1\\\2", result)
    if "www." in result:
        result = result.replace("www.", "www\\.")
    if "@" in result and _EMAIL_RE.search(result):
        result = _EMAIL_RE.sub(lambda m: m.group(0).replace("@", "\\@"), result)
    return result


def _encode_edges(text: str) -> str:
    """Write leading/trailing whitespace as character references so no parser trims it."""
    stripped = text.strip(_WS + "\u00a0")
    if stripped == text:
        return text
    lead = text[: len(text) - len(text.lstrip(_WS + "\u00a0"))]
    trail = text[len(text.rstrip(_WS + "\u00a0")) :] if stripped else ""
    core = text[len(lead) : len(text) - len(trail)]
    return "".join(f"&#{ord(c)};" for c in lead) + core + "".join(f"&#{ord(c)};" for c in trail)


def render_url(url: str) -> str:
    """A link destination that both marked and markdown-it read back unchanged."""
    escaped = url.replace("\\", "\\\\")
    if not url or any(c in url for c in " <>()\n\t") or any(ord(c) < 0x20 for c in url):
        return "<" + escaped.replace("<", "\\<").replace(">", "\\>").replace("\n", " ") + ">"
    return escaped


def _title(title: str) -> str:
    return ' "' + title.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _code_span(text: str) -> str:
    runs = [len(m.group(0)) for m in re.finditer("`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    # markdown strips one space on each side when both are there: pad so the content survives
    both_spaces = text[:1] == " " and text[-1:] == " " and bool(text.strip(" "))
    pad = " " if text.startswith("`") or text.endswith("`") or both_spaces else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _mark_key(mark: Node) -> tuple[str, str, str]:
    attrs = mark.get("attrs") or {}
    return (str(mark.get("type")), str(attrs.get("href")), str(attrs.get("title")))


def _run_ends(nodes: Sequence[Node]) -> list[dict[tuple[str, str, str], int]]:
    """For each node and each of its marks: index of the last node the mark runs through."""
    ends: list[dict[tuple[str, str, str], int]] = [{} for _ in nodes]
    running: dict[tuple[str, str, str], int] = {}
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if node.get("type") == "hardBreak":
            ends[index] = dict(running)
            continue
        keys = {_mark_key(m) for m in node.get("marks") or []}
        running = {key: running.get(key, index) for key in keys}
        ends[index] = dict(running)
    return ends


def render_inline(nodes: Sequence[Node], *, table: bool = False, line_break: str = "\\\n") -> str:
    """Render inline nodes; ``table`` escapes pipes, ``line_break`` is how hard breaks are written."""
    out: list[str] = []
    stack: list[tuple[tuple[str, str, str], Node]] = []
    ends = _run_ends(nodes)

    def close(mark: Node) -> str:
        kind = mark.get("type")
        if kind == "link":
            attrs = mark.get("attrs") or {}
            title = attrs.get("title")
            return "](" + render_url(str(attrs.get("href") or "")) + (_title(str(title)) if title else "") + ")"
        return _CLOSE.get(str(kind), "")

    for index, node in enumerate(nodes):
        kind = node.get("type")
        if kind == "hardBreak":
            following = next((n for n in nodes[index + 1 :] if n.get("type") == "text"), None)
            going_on = {_mark_key(m) for m in (following or {}).get("marks") or []}
            keep = 0
            while keep < len(stack) and stack[keep][0] in going_on:
                keep += 1
            while len(stack) > keep:
                out.append(close(stack.pop()[1]))
            # a backslash break needs text after it on the same paragraph's next line
            last = following is None or not str(following.get("text", ""))[:1].strip()
            out.append("<br>" if last or line_break == "<br>" else line_break)
            continue
        if kind != "text":
            continue
        marks = [m for m in node.get("marks") or [] if m.get("type") in MARK_RANK]
        is_code = any(m.get("type") == "code" for m in marks)
        wanted = {_mark_key(m): m for m in marks if m.get("type") != "code"}
        keep = 0
        while keep < len(stack) and stack[keep][0] in wanted:
            keep += 1
        if is_code and not wanted and out and out[-1][-1:].isspace():
            # a mark span may not end with whitespace: let it run over the code span instead
            # (code carries no other marks, so this reads back the same)
            keep = len(stack)
        while len(stack) > keep:
            out.append(close(stack.pop()[1]))
        opened = {key for key, _ in stack}
        new = [(key, mark) for key, mark in wanted.items() if key not in opened]
        new.sort(key=lambda km: (-ends[index].get(km[0], index), MARK_RANK[km[1]["type"]]))
        for key, mark in new:
            if mark.get("type") == "link":
                if out and out[-1].endswith("!") and not out[-1].endswith("\\!"):
                    out[-1] = out[-1][:-1] + "\\!"
                out.append("[")
            else:
                out.append(_OPEN.get(str(mark.get("type")), ""))
            stack.append((key, mark))
        text = str(node.get("text", ""))
        if is_code:
            code = text.replace("\n", " ")
            out.append(_code_span(code.replace("|", "\\|") if table else code))
        else:
            out.append(_escape_text(text, table))
    while stack:
        out.append(close(stack.pop()[1]))
    return "".join(out)


def _needs_escape(rest: str) -> bool:
    """Would a line whose content (after indentation) is ``rest`` start a block?"""
    ch = rest[:1]
    nxt = rest[1:2]
    if ch in ">":
        return ch == ">"
    if ch in "+*":
        return nxt in ("", " ", "\t")
    if ch == "#":
        return nxt in ("", " ", "\t", "#")
    if ch == "=":
        return not rest.rstrip(" \t").strip("=")
    if ch == "$":
        return nxt == "$"
    if ch == "-":
        return nxt in ("", " ", "\t") or bool(_HR_DASH_RE.fullmatch(rest)) or bool(_DELIM_ROW_RE.fullmatch(rest))
    if ch in "|:":
        return bool(_DELIM_ROW_RE.fullmatch(rest))
    return False


def escape_line_starts(text: str, *, first: bool = True) -> str:
    """Escape characters at line starts that would begin a block (list, heading, quote, …).

    Also keeps the text's own line structure: blank lines and newlines at the edges become
    ``&#10;``, and two spaces before a newline (a hard break) become ``" &#32;"``.
    """
    if "\n" in text:
        lead = len(text) - len(text.lstrip("\n"))
        trail = len(text) - len(text.rstrip("\n")) if text.strip("\n") else 0
        text = "&#10;" * lead + text[lead : len(text) - trail] + "&#10;" * trail
        while "\n\n" in text:
            text = text.replace("\n\n", "\n&#10;")
        text = re.sub(r"  (?=\n)", " &#32;", text)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i == 0 and not first:
            continue
        match = _ORDERED_START_RE.match(line)
        if match:
            line = line[: match.end(2)] + "\\" + line[match.end(2) :]
        else:
            body = line.lstrip(" \t")
            if _needs_escape(body):
                cut = len(line) - len(body)
                line = line[:cut] + "\\" + line[cut:]
        if i == 0 and line[:1] in (" ", "\t"):
            line = f"&#{ord(line[0])};" + line[1:]
        elif i > 0 and line and not line.strip(" \t"):
            line = "".join(f"&#{ord(c)};" for c in line)
        elif i > 0 and len(line.expandtabs(4)) - len(line.lstrip(" \t")) >= 4:
            # in list items marked would read such a line as indented code and strip it
            line = f"&#{ord(line[0])};" + line[1:]
        lines[i] = line
    return "\n".join(lines)


def encode_edges(text: str) -> str:
    """Write leading/trailing whitespace as character references so trimming parsers keep it."""
    return _encode_edges(text)
