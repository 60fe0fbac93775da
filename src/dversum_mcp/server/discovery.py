"""Discovery that works on every client: search, describe, and run any tool by name.

`search_tools` ranks tools with `search.SearchIndex` (BM25 over the tool table, read through
the everyday English and German words of `tool_manifests/_search.toml`). `call_read_tool`
and `call_write_tool` run any selectable tool of their kind with the same validation and
errors, split so a client's approval prompt for writes still means something. In dynamic
mode only these plus `list_toolsets`/`enable_toolset` are listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from dversum_mcp.server.search import SearchIndex, tokenize
from dversum_mcp.tools.manifest import ToolsetSpec, default_manifest

__all__ = ["DYNAMIC_ONLY", "META_TOOLS", "MetaTool", "SearchIndex", "tokenize"]


@dataclass(frozen=True)
class MetaTool:
    definition: types.Tool
    read_only: bool


def _meta(
    name: str, title: str, description: str, schema: dict[str, Any], *, read_only: bool, destructive: bool
) -> MetaTool:
    return MetaTool(
        types.Tool(
            name=name,
            title=None if title == name.replace("_", " ").capitalize() else title,
            description=description,
            input_schema=schema,
            annotations=types.ToolAnnotations(
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=read_only,
                open_world_hint=not read_only,
            ),
        ),
        read_only,
    )


_PROXY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Tool name from search_tools"},
        "arguments": {"type": "object", "description": "The tool's arguments"},
    },
    "required": ["name"],
}

META_TOOLS: dict[str, MetaTool] = {
    m.definition.name: m
    for m in (
        _meta(
            "search_tools",
            "Search tools",
            "Find any tool, listed or not, by what you want to do (English or German); returns names and schemas.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "e.g. share a file with a password"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["query"],
            },
            read_only=True,
            destructive=False,
        ),
        _meta(
            "describe_tool",
            "Describe tool",
            "The full definition (description, input schema, annotations) of one tool by name.",
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            read_only=True,
            destructive=False,
        ),
        _meta(
            "call_read_tool",
            "Run a read-only tool",
            "Run any read-only tool by name (from search_tools) with its arguments.",
            _PROXY_SCHEMA,
            read_only=True,
            destructive=False,
        ),
        _meta(
            "call_write_tool",
            "Run a write tool",
            "Run any tool that changes data by name (from search_tools) with its arguments.",
            _PROXY_SCHEMA,
            read_only=False,
            destructive=True,
        ),
        _meta(
            "list_toolsets",
            "List toolsets",
            "The toolsets with their tool counts and whether they are enabled.",
            {"type": "object", "properties": {}, "required": []},
            read_only=True,
            destructive=False,
        ),
        _meta(
            "enable_toolset",
            "Enable toolset",
            "List a toolset's tools directly (dynamic mode); clients that ignore list changes use call_*_tool.",
            {
                "type": "object",
                "properties": {"toolset": {"type": "string", "enum": [t.name for t in default_manifest().toolsets]}},
                "required": ["toolset"],
            },
            read_only=False,
            destructive=False,
        ),
    )
}
DYNAMIC_ONLY = frozenset({"list_toolsets", "enable_toolset"})


def toolset_rows(toolsets: Iterable[ToolsetSpec], counts: dict[str, int], enabled: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "toolset": t.name,
            "title": t.title,
            "description": t.description,
            "tools": counts.get(t.name, 0),
            "enabled": t.name in enabled,
        }
        for t in toolsets
    ]
