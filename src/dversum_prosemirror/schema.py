"""The Tiptap node and mark vocabulary used by dVersum pages, and a validator for it.

The schema mirrors what the Tiptap editor builds from ``StarterKit``, ``TableKit``,
``TaskList``, ``TaskItem(nested=True)`` and ``Image``: node content expressions, attribute
defaults, the mark rank order and ``code`` excluding every other mark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "BLOCK_NODES",
    "INLINE_NODES",
    "MARKS",
    "MARK_ATTRS",
    "MARK_RANK",
    "NODES",
    "NodeSpec",
    "ProseMirrorError",
    "doc_problems",
    "validate_doc",
]


class ProseMirrorError(ValueError):
    """Raised by the document helpers when an input document is not a valid Tiptap document."""


@dataclass(frozen=True)
class NodeSpec:
    """What a node type may hold: its children (as allowed types per position) and attributes."""

    attrs: Mapping[str, Any] = field(default_factory=dict)
    #: ``None`` for leaf nodes; otherwise (first-child types or None, later-children types, min count)
    first: frozenset[str] | None = None
    rest: frozenset[str] = frozenset()
    min_children: int = 0
    leaf: bool = False
    inline_content: bool = False
    marks_allowed: bool = True


BLOCK_NODES: Final = frozenset(
    {
        "paragraph",
        "heading",
        "blockquote",
        "bulletList",
        "orderedList",
        "taskList",
        "codeBlock",
        "horizontalRule",
        "image",
        "table",
    }
)
INLINE_NODES: Final = frozenset({"text", "hardBreak"})
_CELL_ATTRS: Final = {"colspan": 1, "rowspan": 1, "colwidth": None, "align": None}
_PARA: Final = frozenset({"paragraph"})

NODES: Final[Mapping[str, NodeSpec]] = {
    "doc": NodeSpec(rest=BLOCK_NODES, min_children=1),
    "paragraph": NodeSpec(rest=INLINE_NODES, inline_content=True),
    "heading": NodeSpec(attrs={"level": 1}, rest=INLINE_NODES, inline_content=True),
    "blockquote": NodeSpec(rest=BLOCK_NODES, min_children=1),
    "bulletList": NodeSpec(rest=frozenset({"listItem"}), min_children=1),
    "orderedList": NodeSpec(attrs={"start": 1, "type": None}, rest=frozenset({"listItem"}), min_children=1),
    "listItem": NodeSpec(first=_PARA, rest=BLOCK_NODES, min_children=1),
    "taskList": NodeSpec(rest=frozenset({"taskItem"}), min_children=1),
    "taskItem": NodeSpec(attrs={"checked": False}, first=_PARA, rest=BLOCK_NODES, min_children=1),
    "codeBlock": NodeSpec(attrs={"language": None}, rest=frozenset({"text"}), inline_content=True, marks_allowed=False),
    "horizontalRule": NodeSpec(leaf=True),
    "hardBreak": NodeSpec(leaf=True),
    "image": NodeSpec(attrs={"src": None, "alt": None, "title": None, "width": None, "height": None}, leaf=True),
    "table": NodeSpec(rest=frozenset({"tableRow"}), min_children=1),
    "tableRow": NodeSpec(rest=frozenset({"tableCell", "tableHeader"})),
    "tableHeader": NodeSpec(attrs=_CELL_ATTRS, rest=BLOCK_NODES, min_children=1),
    "tableCell": NodeSpec(attrs=_CELL_ATTRS, rest=BLOCK_NODES, min_children=1),
    "text": NodeSpec(leaf=True),
}

#: Marks in schema rank order (the order ProseMirror sorts a mark set in).
MARKS: Final = ("link", "bold", "code", "italic", "strike", "underline")
MARK_RANK: Final[Mapping[str, int]] = {name: rank for rank, name in enumerate(MARKS)}
MARK_ATTRS: Final[Mapping[str, Mapping[str, Any]]] = {
    "link": {
        "href": None,
        "target": "_blank",
        "rel": "noopener noreferrer nofollow",
        "class": None,
        "title": None,
    },
}

_ALIGNS: Final = (None, "left", "center", "right")
_LIST_TYPES: Final = (None, "1", "a", "A", "i", "I")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_opt_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_opt_dim(value: object) -> bool:
    return value is None or _is_int(value) or isinstance(value, (float, str))


def _check_attr(node_type: str, name: str, value: object) -> str | None:
    """Return a problem description when an attribute value has the wrong shape."""
    ok = True
    if name == "level":
        ok = _is_int(value) and 1 <= value <= 6  # type: ignore[operator]
    elif name in {"start", "colspan", "rowspan"}:
        ok = _is_int(value) and (name == "start" or value >= 1)  # type: ignore[operator]
    elif name == "type":
        ok = value in _LIST_TYPES
    elif name == "checked":
        ok = isinstance(value, bool)
    elif name == "colwidth":
        ok = value is None or (isinstance(value, list) and all(_is_int(v) for v in value))
    elif name == "align":
        ok = value in _ALIGNS
    elif name in {"width", "height"}:
        ok = _is_opt_dim(value)
    else:
        ok = _is_opt_str(value)
    if ok:
        return None
    return f"invalid value {value!r} for attribute {name!r} of {node_type!r}"


def _check_attrs(path: str, type_name: str, attrs: object, spec: Mapping[str, Any], problems: list[str]) -> None:
    if attrs is None:
        return
    if not isinstance(attrs, Mapping):
        problems.append(f"{path}: attrs of {type_name!r} must be an object")
        return
    for key, value in attrs.items():
        if key not in spec:
            continue  # ProseMirror ignores attributes its schema does not know
        problem = _check_attr(type_name, key, value)
        if problem:
            problems.append(f"{path}: {problem}")


def _check_marks(path: str, marks: object, allowed: bool, problems: list[str]) -> None:
    if not isinstance(marks, list):
        problems.append(f"{path}: marks must be a list")
        return
    if marks and not allowed:
        problems.append(f"{path}: marks are not allowed here")
        return
    seen: list[str] = []
    for i, mark in enumerate(marks):
        mpath = f"{path}.marks[{i}]"
        if not isinstance(mark, Mapping):
            problems.append(f"{mpath}: mark must be an object")
            continue
        mtype = mark.get("type")
        if not isinstance(mtype, str) or mtype not in MARK_RANK:
            problems.append(f"{mpath}: unknown mark type {mtype!r}")
            continue
        _check_attrs(mpath, mtype, mark.get("attrs"), MARK_ATTRS.get(mtype, {}), problems)
        extra = set(mark) - {"type", "attrs"}
        if extra:
            problems.append(f"{mpath}: unexpected keys {sorted(extra)!r}")
        if mtype in seen:
            problems.append(f"{mpath}: duplicate mark {mtype!r}")
        seen.append(mtype)
    if "code" in seen and len(seen) > 1:
        problems.append(f"{path}: mark 'code' cannot be combined with other marks ({', '.join(seen)})")


def _check_node(node: object, path: str, allowed: frozenset[str] | None, marks_ok: bool, problems: list[str]) -> None:
    where = path or "doc"
    if not isinstance(node, Mapping):
        problems.append(f"{where}: node must be an object, got {type(node).__name__}")
        return
    ntype = node.get("type")
    spec = NODES.get(ntype) if isinstance(ntype, str) else None
    if spec is None or not isinstance(ntype, str):
        problems.append(f"{where}: unknown node type {ntype!r}")
        return
    if allowed is not None and ntype not in allowed:
        problems.append(f"{where}: node type {ntype!r} is not allowed here")
    extra = set(node) - {"type", "attrs", "content", "marks", "text"}
    if extra:
        problems.append(f"{where}: unexpected keys {sorted(extra)!r}")
    _check_attrs(where, ntype, node.get("attrs"), spec.attrs, problems)
    if node.get("marks") is not None and node.get("marks") != []:
        if ntype in INLINE_NODES:
            _check_marks(where, node["marks"], marks_ok, problems)
        else:
            problems.append(f"{where}: block node {ntype!r} cannot have marks")
    if ntype == "text":
        text = node.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"{where}: text node needs a non-empty string 'text'")
    elif "text" in node:
        problems.append(f"{where}: only text nodes have 'text'")
    content = node.get("content", [])
    if not isinstance(content, list):
        problems.append(f"{where}: content must be a list")
        return
    if spec.leaf:
        if content:
            problems.append(f"{where}: leaf node {ntype!r} cannot have content")
        return
    if len(content) < spec.min_children:
        problems.append(f"{where}: node {ntype!r} needs at least {spec.min_children} child node(s)")
    prefix = f"{path}." if path else ""
    for i, child in enumerate(content):
        child_allowed = spec.first if i == 0 and spec.first is not None else spec.rest
        _check_node(child, f"{prefix}content[{i}]", child_allowed, spec.marks_allowed, problems)


def doc_problems(doc: object) -> list[str]:
    """Schema problems of ``doc`` (see :func:`validate_doc`)."""
    problems: list[str] = []
    if isinstance(doc, Mapping) and doc.get("type") != "doc":
        problems.append(f"doc: top-level node must be of type 'doc', got {doc.get('type')!r}")
        return problems
    _check_node(doc, "", frozenset({"doc"}), True, problems)
    return problems


def validate_doc(doc: object) -> list[str]:
    """Check a Tiptap document against the schema, as ``Node.fromJSON(schema, doc).check()`` does.

    Returns an empty list for a valid document, otherwise human-readable problems, each
    prefixed with the JSON path of the offending node, e.g.
    ``"content[2].content[0]: unknown node type 'foo'"``. Like ProseMirror it accepts missing
    attributes (defaults), unknown attributes (ignored) and marks in any order (sorted); attribute
    values are checked for their type.
    """
    return doc_problems(doc)
