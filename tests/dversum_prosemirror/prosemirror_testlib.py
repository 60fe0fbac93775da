"""Shared helpers for the prosemirror tests: fixture loading and an independent schema check.

The independent check builds the Tiptap schema with the ``prosemirror`` PyPI package (a port of
prosemirror-model) and runs ``Node.from_json(schema, doc).check()`` on a document.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from prosemirror.model import Node, Schema

__all__ = ["FIXTURES", "PAGES", "load_json", "pm_check", "pm_schema"]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "tiptap"
PAGES = ROOT / "tests" / "fixtures" / "pages"

_BLOCK = "paragraph heading blockquote bulletList orderedList taskList codeBlock horizontalRule image table"


def _level(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 6:
        raise ValueError(f"bad heading level {value!r}")


def _one_of(*allowed: Any) -> Any:
    def check(value: Any) -> None:
        if value not in allowed:
            raise ValueError(f"{value!r} not in {allowed!r}")

    return check


@functools.cache
def pm_schema() -> Schema[Any, Any]:
    """The Tiptap schema (StarterKit, TableKit, TaskList, TaskItem nested, Image) in prosemirror-py."""
    cell_attrs = {
        "colspan": {"default": 1, "validate": "number"},
        "rowspan": {"default": 1, "validate": "number"},
        "colwidth": {"default": None},
        "align": {"default": None, "validate": _one_of(None, "left", "center", "right")},
    }
    block = "block"
    nodes: dict[str, Any] = {
        "doc": {"content": "block+"},
        "paragraph": {"content": "inline*", "group": block},
        "heading": {"content": "inline*", "group": block, "attrs": {"level": {"default": 1, "validate": _level}}},
        "blockquote": {"content": "block+", "group": block},
        "bulletList": {"content": "listItem+", "group": "block list"},
        "orderedList": {
            "content": "listItem+",
            "group": "block list",
            "attrs": {"start": {"default": 1, "validate": "number"}, "type": {"default": None}},
        },
        "listItem": {"content": "paragraph block*"},
        "taskList": {"content": "taskItem+", "group": "block list"},
        "taskItem": {"content": "paragraph block*", "attrs": {"checked": {"default": False, "validate": "boolean"}}},
        "codeBlock": {
            "content": "text*",
            "marks": "",
            "group": block,
            "code": True,
            "attrs": {"language": {"default": None, "validate": "string|null"}},
        },
        "horizontalRule": {"group": block},
        "hardBreak": {"inline": True, "group": "inline"},
        "image": {
            "group": block,
            "attrs": {name: {"default": None} for name in ("src", "alt", "title", "width", "height")},
        },
        "table": {"content": "tableRow+", "group": block},
        "tableRow": {"content": "(tableCell | tableHeader)*"},
        "tableHeader": {"content": "block+", "attrs": cell_attrs},
        "tableCell": {"content": "block+", "attrs": cell_attrs},
        "text": {"group": "inline"},
    }
    link_attrs = {
        "href": {"default": None},
        "target": {"default": "_blank"},
        "rel": {"default": "noopener noreferrer nofollow"},
        "class": {"default": None},
        "title": {"default": None},
    }
    marks: dict[str, Any] = {
        "link": {"attrs": link_attrs, "inclusive": False},
        "bold": {},
        "code": {"excludes": "_", "code": True},
        "italic": {},
        "strike": {},
        "underline": {},
    }
    assert set(_BLOCK.split()) == {k for k, v in nodes.items() if v.get("group", "").startswith("block")}
    return Schema({"nodes": nodes, "marks": marks, "topNode": "doc"})


def pm_check(doc: Any) -> str | None:
    """None when prosemirror-py accepts ``doc``; otherwise its error message."""
    try:
        Node.from_json(pm_schema(), doc).check()
    except Exception as exc:  # prosemirror raises ValueError, KeyError, TypeError, ...
        return f"{type(exc).__name__}: {exc}"
    return None


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
