"""Pure edits of Tiptap documents with Markdown input, and plain-text extraction.

Existing top-level nodes are passed through as the very same objects, so whatever the
editor stored stays byte-for-byte identical; only the new blocks are converted from Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .from_markdown import markdown_to_doc
from .schema import ProseMirrorError, doc_problems

__all__ = ["append_markdown", "doc_text", "insert_markdown_after_heading"]


def _checked_content(doc: Mapping[str, Any]) -> list[Any]:
    problems = doc_problems(doc)
    if problems:
        raise ProseMirrorError("invalid Tiptap document: " + "; ".join(problems))
    return list(doc.get("content") or [])


def _new_blocks(markdown: str) -> list[dict[str, Any]]:
    if not markdown.strip():
        return []
    blocks: list[dict[str, Any]] = markdown_to_doc(markdown)["content"]
    return blocks


def _is_empty_paragraph(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "paragraph" and not node.get("content")


def _with_content(doc: Mapping[str, Any], content: list[Any]) -> dict[str, Any]:
    out = {key: value for key, value in doc.items() if key != "content"}
    out["type"] = "doc"
    out["content"] = content or [{"type": "paragraph"}]
    return out


def append_markdown(doc: Mapping[str, Any], markdown: str) -> dict[str, Any]:
    """Append the blocks of ``markdown`` to ``doc``.

    Existing top-level nodes are kept as they are (the same objects); a document that is only
    one empty paragraph (a new page) is replaced by the new content.
    """
    content = _checked_content(doc)
    new = _new_blocks(markdown)
    if len(content) == 1 and _is_empty_paragraph(content[0]) and new:
        content = []
    return _with_content(doc, content + new)


def _node_text(node: Mapping[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    return "".join(_node_text(child) for child in node.get("content") or [])


def insert_markdown_after_heading(doc: Mapping[str, Any], heading: str, markdown: str) -> dict[str, Any]:
    """Insert the blocks of ``markdown`` at the end of the section under ``heading``.

    The section starts at the first top-level heading whose plain text equals ``heading``
    (case-insensitive, surrounding whitespace ignored) and ends before the next heading of
    the same or a higher level, or at the end of the document.
    """
    content = _checked_content(doc)
    wanted = heading.strip().casefold()
    headings = [(i, node) for i, node in enumerate(content) if node.get("type") == "heading"]
    found = next(((i, node) for i, node in headings if _node_text(node).strip().casefold() == wanted), None)
    if found is None:
        names = ", ".join(repr(_node_text(node).strip()) for _, node in headings) or "(none)"
        raise ProseMirrorError(f"no heading {heading!r}; headings are: {names}")
    index, node = found
    level = (node.get("attrs") or {}).get("level", 1)
    end = next(
        (i for i, other in headings if i > index and (other.get("attrs") or {}).get("level", 1) <= level),
        len(content),
    )
    return _with_content(doc, content[:end] + _new_blocks(markdown) + content[end:])


def _blocks_text(nodes: Sequence[Mapping[str, Any]], out: list[str]) -> None:
    for node in nodes:
        kind = node.get("type")
        if kind in ("paragraph", "heading", "codeBlock"):
            out.append(_node_text(node))
        elif kind == "image":
            alt = (node.get("attrs") or {}).get("alt")
            if alt:
                out.append(str(alt))
        elif kind == "tableRow":
            cells = [" ".join(_flat(cell)) for cell in node.get("content") or []]
            out.append(" | ".join(cells))
        else:
            _blocks_text(node.get("content") or [], out)


def _flat(node: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    _blocks_text(node.get("content") or [], parts)
    return parts


def doc_text(doc: Mapping[str, Any]) -> str:
    """Plain text of a document for search and previews: one line per text block (paragraphs,
    headings, code blocks, image alt texts, table rows with cells joined by ``" | "``), joined
    with newlines; empty blocks are skipped."""
    parts: list[str] = []
    _blocks_text(doc.get("content") or [], parts)
    return "\n".join(part for part in parts if part.strip())
