"""Markdown ⇄ Tiptap/ProseMirror JSON for dVersum pages.

Pure functions, no I/O. ``markdown_to_doc`` reads Markdown exactly like Tiptap's own
``@tiptap/markdown`` (3.32.2) does, but always returns a schema-valid document;
``doc_to_markdown`` writes GFM that reads back to the same document.
"""

from .edit import append_markdown, doc_text, insert_markdown_after_heading
from .from_markdown import markdown_to_doc
from .normalize import normalize_doc
from .schema import ProseMirrorError, validate_doc
from .to_markdown import doc_to_markdown

__all__ = [
    "ProseMirrorError",
    "append_markdown",
    "doc_text",
    "doc_to_markdown",
    "insert_markdown_after_heading",
    "markdown_to_doc",
    "normalize_doc",
    "validate_doc",
]
