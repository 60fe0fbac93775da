"""Page content in, ProseMirror (Tiptap) JSON out: Markdown is converted, JSON is validated.

The converter is the pure `dversum_prosemirror` package (no I/O), shared with the MCP server.
"""

from __future__ import annotations

from typing import Any

import dversum_prosemirror as pm
from dversum_sandbox.db import dumps
from dversum_sandbox.errors import validation

__all__ = ["EMPTY_DOC", "MAX_CONTENT_CHARS", "to_doc"]

EMPTY_DOC: dict[str, Any] = {"type": "doc", "content": [{"type": "paragraph"}]}
MAX_CONTENT_CHARS = 5_000_000


def _problems(exc: Exception) -> str:
    listed = getattr(exc, "problems", None)
    if isinstance(listed, list | tuple) and listed:
        return "; ".join(str(p) for p in listed)
    return str(exc) or type(exc).__name__


def to_doc(value: object, field: str = "content") -> dict[str, Any]:
    """Markdown string or ProseMirror doc object → a normalized doc; 422 naming `field` otherwise."""
    if isinstance(value, str):
        if len(value) > MAX_CONTENT_CHARS:
            raise validation(field, f"{field} is longer than {MAX_CONTENT_CHARS} characters")
        try:
            doc = pm.markdown_to_doc(value)
        except (ValueError, RecursionError) as exc:
            raise validation(field, f"{field} could not be converted from Markdown: {_problems(exc)}") from None
        return doc
    if isinstance(value, dict):
        if value.get("type") != "doc":
            raise validation(field, f'{field} must be Markdown text or a ProseMirror JSON object with "type": "doc"')
        try:
            doc = pm.normalize_doc(value)
        except (ValueError, TypeError, RecursionError) as exc:
            raise validation(field, f"{field} is not a valid ProseMirror doc: {_problems(exc)}") from None
        if len(dumps(doc)) > MAX_CONTENT_CHARS:
            raise validation(field, f"{field} is larger than {MAX_CONTENT_CHARS} characters as JSON")
        return doc
    raise validation(field, f"{field} must be Markdown text or a ProseMirror JSON object")
