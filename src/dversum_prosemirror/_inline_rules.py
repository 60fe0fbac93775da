"""markdown-it inline rules that reproduce how Tiptap's Markdown parser (marked) reads inline text.

Differences from CommonMark that Tiptap shows and that these rules copy:

* soft line breaks keep their surrounding spaces, and leading spaces of the next line stay;
* entities are not decoded here (only ``&amp; &lt; &gt; &quot;`` and numeric references are
  decoded later, for plain text only);
* link destinations and titles are taken verbatim (backslash escapes removed, no
  percent-encoding, no entity decoding);
* GFM extended autolinks (``www.``, ``http://``, e-mail) follow marked's rules;
* ``<u>…</u>`` is underline.
"""

from __future__ import annotations

import re
import unicodedata
from types import SimpleNamespace
from typing import Any

from markdown_it.helpers import parseLinkLabel
from markdown_it.rules_inline.html_inline import html_inline as _html_inline
from markdown_it.rules_inline.state_inline import StateInline

__all__ = [
    "JS_WS",
    "LINK_HELPERS",
    "autolink_rule",
    "escape_rule",
    "html_inline_rule",
    "newline_rule",
    "text_rule",
    "underline_rule",
    "unescape_punct",
    "url_rule",
]

#: JavaScript's ``\s`` character class (marked and Tiptap use it everywhere).
JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

_TERMINATORS = frozenset("\n!#$%&*+-:<=>@[\\]^_`{}~")
_EMAIL_CHARS = r"a-zA-Z0-9.!#$%&'*+/=?_`{|}~\-"
_STOP_RE = re.compile(
    r"[\n!#$%&*+\-:<=>@\[\\\]^_`{}~]|[hH][tT][tT][pP][sS]?://|[fF][tT][pP]://|www\."
    rf"|(?<![{_EMAIL_CHARS}])(?=[{_EMAIL_CHARS}]+@)"
)
_EMAIL_AHEAD_RE = re.compile(rf"[{_EMAIL_CHARS}]+@")
_URL_RE = re.compile(
    r"((?:[hH][tT][tT][pP][sS]?|[fF][tT][pP])://|www\.)(?:[a-zA-Z0-9\-]+\.?)+[^" + JS_WS + "<]*"
    r"|[A-Za-z0-9._+-]+(@)[a-zA-Z0-9\-_]+(?:\.[a-zA-Z0-9\-_]*[a-zA-Z0-9])+(?![-_])"
)
_URL_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
_BACKPEDAL_RE = re.compile(r"(?:[^?!.,:;*_'\"~()&]+|\([^)]*\)|&(?![a-zA-Z0-9]+;\Z)|[?!.,:;*_'\"~)]+(?!\Z))+")
_AUTOLINK_RE = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9+.\-]{1,31}:[^" + JS_WS + r"\x00-\x1f<>]*"
    r"|[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+(@)[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)+(?![-_]))>"
)
_UNDERLINE_DELIMS = re.compile(r"\\[\s\S]|`+|</u>", re.IGNORECASE)
_CODE_SPAN_RE = re.compile(r"(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)")
_ESCAPABLE = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_BACKSLASH_RE = re.compile(r"\\(.)", re.DOTALL)


def _punct_sub(match: re.Match[str]) -> str:
    ch = match.group(1)
    return ch if unicodedata.category(ch)[0] in "PS" else match.group(0)


def unescape_punct(text: str) -> str:
    """Remove backslashes before punctuation and symbols (marked's ``anyPunctuation``)."""
    return _BACKSLASH_RE.sub(_punct_sub, text) if "\\" in text else text


# --- link destination / title helpers (verbatim, like marked) -----------------------------


class _Result:
    __slots__ = ("can_continue", "marker", "ok", "pos", "str")

    def __init__(self) -> None:
        self.ok = False
        self.can_continue = False
        self.pos = 0
        self.str = ""
        self.marker = ""


def _parse_link_destination(string: str, pos: int, maximum: int) -> _Result:
    start = pos
    result = _Result()
    if pos < maximum and string[pos] == "<":
        pos += 1
        while pos < maximum:
            ch = string[pos]
            if ch in "\n<":
                return result
            if ch == ">":
                result.pos = pos + 1
                result.str = unescape_punct(string[start + 1 : pos])
                result.ok = True
                return result
            pos += 2 if ch == "\\" and pos + 1 < maximum else 1
        return result
    level = 0
    while pos < maximum:
        ch = string[pos]
        code = ord(ch)
        if ch == " " or code < 0x20 or code == 0x7F:
            break
        if ch == "\\" and pos + 1 < maximum:
            if string[pos + 1] == " ":
                break
            pos += 2
            continue
        if ch == "(":
            level += 1
            if level > 32:
                return result
        if ch == ")":
            if level == 0:
                break
            level -= 1
        pos += 1
    if start == pos or level != 0:
        return result
    result.str = unescape_punct(string[start:pos])
    result.pos = pos
    result.ok = True
    return result


def _parse_link_title(string: str, start: int, maximum: int, prev_state: _Result | None = None) -> _Result:
    pos = start
    state = _Result()
    if prev_state is not None:
        state.str = prev_state.str
        state.marker = prev_state.marker
    else:
        if pos >= maximum or string[pos] not in "\"'(":
            return state
        marker = string[pos]
        start += 1
        pos += 1
        state.marker = ")" if marker == "(" else marker
    while pos < maximum:
        ch = string[pos]
        if ch == state.marker:
            state.pos = pos + 1
            state.str = unescape_punct(state.str + string[start:pos])
            state.ok = True
            return state
        if ch == "(" and state.marker == ")":
            return state
        if ch == "\\" and pos + 1 < maximum:
            pos += 1
        pos += 1
    state.can_continue = True
    state.str += string[start:pos]
    return state


#: Replacement for ``MarkdownIt.helpers``.
LINK_HELPERS = SimpleNamespace(
    parseLinkLabel=parseLinkLabel,
    parseLinkDestination=_parse_link_destination,
    parseLinkTitle=_parse_link_title,
)


# --- rules ---------------------------------------------------------------------------------


def text_rule(state: StateInline, silent: bool) -> bool:
    """Plain text up to the next special character or possible autolink start (tried first)."""
    pos = state.pos
    src = state.src
    if src[pos] in _TERMINATORS:
        return False
    if src[pos] in _URL_START and url_rule(state, silent):
        return True
    maximum = state.posMax
    if pos + 1 < maximum and _EMAIL_AHEAD_RE.match(src, pos + 1, maximum):
        end = pos + 1
    else:
        found = _STOP_RE.search(src, pos + 1, maximum)
        end = found.start() if found else maximum
    if not silent:
        state.pending += src[pos:end]
    state.pos = end
    return True


def _push_link(state: StateInline, href: str, text: str, kind: str) -> None:
    token = state.push("link_open", "a", 1)
    token.attrs = {"href": href}
    token.info = kind
    token = state.push("text", "", 0)
    token.content = text
    state.push("link_close", "a", -1)


def url_rule(state: StateInline, silent: bool) -> bool:
    """GFM extended autolinks, as marked finds them."""
    pos = state.pos
    # silent mode is markdown-it scanning for the end of a link label: marked matches links
    # before autolinks, so an autolink must not swallow the label's closing bracket
    if silent or state.src[pos] not in _URL_START or state.linkLevel > 0:
        return False
    match = _URL_RE.match(state.src, pos, state.posMax)
    if not match:
        return False
    text = match.group(0)
    if match.group(2) == "@":
        href = "mailto:" + text
    else:
        while True:
            back = _BACKPEDAL_RE.search(text)
            new = back.group(0) if back else ""
            if new == text:
                break
            text = new
        if not text:
            return False
        href = "http://" + text if match.group(1) == "www." else text
    if not silent:
        _push_link(state, href, text, "url")
    state.pos = pos + len(text)
    return True


def autolink_rule(state: StateInline, silent: bool) -> bool:
    """``<scheme:…>`` and ``<user@host>`` autolinks, taken verbatim."""
    pos = state.pos
    if state.src[pos] != "<":
        return False
    match = _AUTOLINK_RE.match(state.src, pos, state.posMax)
    if not match:
        return False
    text = match.group(1)
    if not silent:
        _push_link(state, "mailto:" + text if match.group(2) == "@" else text, text, "autolink")
    state.pos = match.end()
    return True


def underline_rule(state: StateInline, silent: bool) -> bool:
    """``<u>…</u>`` underline (Tiptap's own tokenizer: skips escapes and code spans)."""
    pos = state.pos
    src = state.src
    maximum = state.posMax
    if src[pos] != "<" or src[pos : pos + 3].lower() != "<u>":
        return False
    scan = pos + 3
    end = -1
    while True:
        match = _UNDERLINE_DELIMS.search(src, scan, maximum)
        if not match:
            return False
        token_text = match.group(0)
        if token_text[0] == "`":
            span = _CODE_SPAN_RE.match(src, match.start(), maximum)
            scan = span.end() if span else match.end()
            continue
        if token_text[0] == "\\":
            scan = match.end()
            continue
        end = match.start()
        break
    if end == pos + 3:
        return False
    if not silent:
        old_max = state.posMax
        state.push("underline_open", "u", 1)
        state.pos = pos + 3
        state.posMax = end
        state.md.inline.tokenize(state)
        state.posMax = old_max
        state.push("underline_close", "u", -1)
    state.pos = end + 4
    return True


def newline_rule(state: StateInline, silent: bool) -> bool:
    """Soft breaks stay as ``\\n`` with their spaces; two or more spaces before make a hard break."""
    pos = state.pos
    if state.src[pos] != "\n":
        return False
    if not silent:
        pending = state.pending
        stripped = pending.rstrip(" ")
        if len(pending) - len(stripped) >= 2:
            state.pending = stripped
            state.push("hardbreak", "br", 0)
        else:
            state.pending = pending + "\n"
    state.pos = pos + 1
    return True


def escape_rule(state: StateInline, silent: bool) -> bool:
    """Backslash escapes (kept apart from text, so no entity decoding) and backslash hard breaks."""
    pos = state.pos
    src = state.src
    if src[pos] != "\\" or pos + 1 >= state.posMax:
        return False
    ch = src[pos + 1]
    if ch == "\n":
        if not silent:
            state.push("hardbreak", "br", 0)
        state.pos = pos + 2
        return True
    if ch not in _ESCAPABLE:
        return False
    if not silent:
        token = state.push("text_special", "", 0)
        token.content = ch
        token.markup = "\\" + ch
        token.info = "escape"
    state.pos = pos + 2
    return True


def html_inline_rule(state: StateInline, silent: bool) -> bool:
    """Raw inline HTML; remembers where the tag was so that Tiptap's tag pairing can be copied."""
    start = state.pos
    if not _html_inline(state, silent):
        return False
    if not silent:
        token: Any = state.tokens[-1]
        token.meta = {"start": start, "end": state.pos}
    return True
