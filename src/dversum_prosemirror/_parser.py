"""The markdown-it parser configured to read Markdown the way Tiptap's Markdown extension does."""

from __future__ import annotations

import functools
import re

from markdown_it import MarkdownIt
from markdown_it.ruler import RuleOptionsType
from markdown_it.rules_block import fence, reference
from markdown_it.token import Token

from ._block_rules import lheading_rule, paragraph_rule, wrap_fence, wrap_reference
from ._inline_rules import (
    LINK_HELPERS,
    autolink_rule,
    escape_rule,
    html_inline_rule,
    newline_rule,
    text_rule,
    underline_rule,
    url_rule,
)
from ._tiptap_ordered import ordered_list_rule
from ._tiptap_tasks import task_list_rule

__all__ = ["normalize_source", "parse_inline", "parse_tokens"]

_ALT: RuleOptionsType = {"alt": ["paragraph", "reference", "blockquote"]}


class _TiptapMarkdownIt(MarkdownIt):
    """URLs stay exactly as written (marked neither normalizes nor validates them); unsafe
    schemes are dealt with when the nodes are built."""

    def normalizeLink(self, url: str) -> str:
        return url

    def normalizeLinkText(self, link: str) -> str:
        return link

    def validateLink(self, url: str) -> bool:
        return True


@functools.cache
def _parser() -> MarkdownIt:
    """The configured parser, built once; it is never mutated afterwards."""
    md = _TiptapMarkdownIt("commonmark", {"html": True, "strikethrough_single_tilde": True})
    md.enable(["table", "strikethrough"])
    md.disable(["entity", "text_join"])
    md.helpers = LINK_HELPERS  # type: ignore[assignment]
    block = md.block.ruler
    block.at("paragraph", paragraph_rule)
    block.at("lheading", lheading_rule)
    block.at("reference", wrap_reference(reference))
    block.at("fence", wrap_fence(fence), {"alt": ["paragraph", "reference", "blockquote", "list"]})
    block.before("table", "tt_ordered_list", ordered_list_rule, _ALT)
    block.before("tt_ordered_list", "tt_task_list", task_list_rule, _ALT)
    inline = md.inline.ruler
    inline.at("text", text_rule)
    inline.at("newline", newline_rule)
    inline.at("escape", escape_rule)
    inline.at("autolink", autolink_rule)
    inline.at("html_inline", html_inline_rule)
    inline.before("text", "tt_underline", underline_rule)
    inline.after("html_inline", "tt_url", url_rule)
    return md


_NEWLINES_RE = re.compile(r"\r\n?")


def normalize_source(markdown: str) -> str:
    """Line endings to ``\n`` and NUL to U+FFFD, as markdown-it does before parsing."""
    return _NEWLINES_RE.sub("\n", markdown).replace("\0", "\ufffd")


def parse_tokens(source: str) -> list[Token]:
    """Tokenize normalized Markdown ``source`` into markdown-it's block token stream."""
    return _parser().parse(source, {})


def parse_inline(text: str) -> list[Token]:
    """Tokenize ``text`` as inline content; returns the inline token's children."""
    tokens = _parser().parseInline(text, {})
    return (tokens[0].children or []) if tokens else []
