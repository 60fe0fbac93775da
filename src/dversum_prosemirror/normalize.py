"""Canonical Tiptap JSON: what ProseMirror's ``toJSON`` produces for a document.

Full attributes (defaults filled in), no empty ``content``/``marks`` keys, marks in schema rank
order, adjacent text nodes with equal marks merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import MARK_ATTRS, MARK_RANK, NODES, ProseMirrorError, doc_problems

__all__ = ["canonical_node", "normalize_doc"]

Node = dict[str, Any]


def _mark(mark: Mapping[str, Any]) -> Node:
    out: Node = {"type": mark["type"]}
    defaults = MARK_ATTRS.get(mark["type"])
    if defaults is not None:
        given = mark.get("attrs") or {}
        out["attrs"] = {key: given.get(key, default) for key, default in defaults.items()}
    return out


def canonical_node(node: Mapping[str, Any]) -> Node:
    """Canonical copy of a (valid) node and its descendants."""
    ntype = node["type"]
    out: Node = {"type": ntype}
    spec = NODES[ntype]
    if spec.attrs:
        given = node.get("attrs") or {}
        out["attrs"] = {key: given.get(key, default) for key, default in spec.attrs.items()}
    content = node.get("content") or []
    if content:
        children: list[Node] = []
        for child in content:
            item = canonical_node(child)
            prev = children[-1] if children else None
            if (
                prev is not None
                and item["type"] == "text"
                and prev["type"] == "text"
                and prev.get("marks") == item.get("marks")
            ):
                prev["text"] += item["text"]
                continue
            children.append(item)
        out["content"] = children
    marks = node.get("marks") or []
    if marks:
        out["marks"] = sorted((_mark(m) for m in marks), key=lambda m: MARK_RANK[m["type"]])
    if ntype == "text":
        out["text"] = node["text"]
    return out


def normalize_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``doc`` (raising :class:`ProseMirrorError` with all problems) and return its
    canonical JSON, as ProseMirror's ``toJSON`` writes it: full attributes (unknown ones dropped),
    no empty ``content``/``marks``, marks sorted by rank, adjacent equal-mark text merged."""
    problems = doc_problems(doc)
    if problems:
        raise ProseMirrorError("invalid Tiptap document: " + "; ".join(problems))
    return canonical_node(doc)
