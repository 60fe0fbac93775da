"""Running the discovery tools: search, describe, the read/write proxies and toolset enabling.

The definitions live in `discovery.py`; this module executes them against the registry for
one request's selection. The proxies hand the chosen tool back to the server (`MetaCall.run`),
so a proxied call goes through exactly the same confirmation, validation and errors.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dversum_mcp.api.calls import Outcome
from dversum_mcp.api.errors import ArgumentError
from dversum_mcp.server.discovery import META_TOOLS, SearchIndex, toolset_rows
from dversum_mcp.tools.registry import GeneratedTool, Registry, Selection

__all__ = ["MetaCall", "allowed_names", "run_meta", "unknown_tool"]


@dataclass
class MetaCall:
    """One discovery-tool call: where to look, what this session has enabled, how to run a tool."""

    registry: Registry
    index: SearchIndex
    selection: Selection
    dynamic: bool
    enabled: set[str]
    run: Callable[[GeneratedTool, Any], Awaitable[Outcome]]
    tools_changed: Callable[[], Awaitable[None]]
    has_session: bool = True
    """False on requests that belong to no session (2026-07-28 HTTP): nothing can stay enabled."""


def allowed_names(registry: Registry, selection: Selection) -> set[str]:
    return {name for name, tool in registry.tools.items() if selection.allows(tool.spec)}


def unknown_tool(name: str, call: MetaCall) -> ArgumentError:
    if name in call.registry.tools:
        why = "is not available with this server's settings (read-only, excluded or documented-only)"
        return ArgumentError(f"tool {name!r} {why}", field="name")
    hits = call.index.search(name.replace("_", " "), allowed_names(call.registry, call.selection), 3)
    guesses = [tool.spec.name for tool, _ in hits]
    hint = "Use search_tools to find the right tool." + (f" Did you mean: {', '.join(guesses)}?" if guesses else "")
    return ArgumentError(f"unknown tool {name!r}", field="name", hint=hint)


def _int(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ArgumentError(f"{field_name} must be an integer from {low} to {high}", field=field_name)
    return value


def _object(value: Any, field_name: str) -> dict[str, Any]:
    """An object argument, also when a client sent it as a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested beyond the decoder
            raise ArgumentError(f"{field_name} must be a JSON object", field=field_name) from None
    if not isinstance(value, dict):
        raise ArgumentError(f"{field_name} must be a JSON object", field=field_name)
    return value


async def _search(call: MetaCall, args: dict[str, Any]) -> Outcome:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ArgumentError("query is required: say what you want to do", field="query")
    limit = _int(args.get("limit", 5), "limit", 1, 20)
    hits = call.index.search(query, allowed_names(call.registry, call.selection), limit)
    return Outcome(
        {
            "query": query,
            "tools": [
                {
                    "name": tool.spec.name,
                    "description": tool.spec.description,
                    "read_only": tool.spec.read_only,
                    "inputSchema": tool.schema,
                }
                for tool, _ in hits
            ],
            "how_to_call": "Call a listed tool directly, or use call_read_tool / call_write_tool "
            "with {name, arguments}.",
        }
    )


async def _describe(call: MetaCall, args: dict[str, Any]) -> Outcome:
    wanted = args.get("name")
    tool = call.registry.callable(wanted, call.selection) if isinstance(wanted, str) else None
    if tool is None:
        raise unknown_tool(str(wanted), call)
    definition = tool.definition.model_dump(by_alias=True, exclude_none=True, mode="json")
    return Outcome({**definition, "toolset": tool.spec.toolset})


def _proxy(read_only: bool) -> Callable[[MetaCall, dict[str, Any]], Awaitable[Outcome]]:
    async def proxy(call: MetaCall, args: dict[str, Any]) -> Outcome:
        wanted = args.get("name")
        if not isinstance(wanted, str):
            raise ArgumentError("name is required: the tool to run (see search_tools)", field="name")
        if wanted in META_TOOLS:
            raise ArgumentError(f"{wanted} is a discovery tool; call it directly", field="name")
        tool = call.registry.callable(wanted, call.selection)
        if tool is None:
            raise unknown_tool(wanted, call)
        if read_only and not tool.spec.read_only:
            raise ArgumentError(f"{wanted} changes data; run it with call_write_tool", field="name")
        if not read_only and tool.spec.read_only:
            raise ArgumentError(f"{wanted} only reads; run it with call_read_tool", field="name")
        return await call.run(tool, _object(args.get("arguments") or {}, "arguments"))

    return proxy


async def _list_toolsets(call: MetaCall, args: dict[str, Any]) -> Outcome:
    counts: dict[str, int] = {}
    for tool in call.registry.tools.values():
        if call.selection.allows(tool.spec):
            counts[tool.spec.toolset] = counts.get(tool.spec.toolset, 0) + 1
    enabled = call.enabled if call.dynamic else {t.spec.toolset for t in call.registry.listed(call.selection)}
    return Outcome({"toolsets": toolset_rows(call.registry.manifest.toolsets, counts, enabled)})


async def _enable_toolset(call: MetaCall, args: dict[str, Any]) -> Outcome:
    toolset = args.get("toolset")
    known = {t.name for t in call.registry.manifest.toolsets}
    if toolset not in known:
        raise ArgumentError(f"toolset must be one of {', '.join(sorted(known))}", field="toolset")
    if not call.dynamic:
        return Outcome({"toolset": toolset, "enabled": True, "note": "All selected tools are already listed."})
    if not call.has_session:
        return Outcome(
            {
                "toolset": toolset,
                "enabled": False,
                "tools": [t.spec.name for t in call.registry.tools.values() if t.spec.toolset == toolset],
                "note": "This connection has no session to keep enabled toolsets in; run these tools with "
                "call_read_tool / call_write_tool.",
            }
        )
    call.enabled.add(str(toolset))
    await call.tools_changed()
    return Outcome(
        {
            "toolset": toolset,
            "enabled": True,
            "tools": [t.spec.name for t in call.registry.tools.values() if t.spec.toolset == toolset],
            "note": "If your client does not refresh its tool list, run these with call_read_tool / call_write_tool.",
        }
    )


_HANDLERS: dict[str, Callable[[MetaCall, dict[str, Any]], Awaitable[Outcome]]] = {
    "search_tools": _search,
    "describe_tool": _describe,
    "call_read_tool": _proxy(read_only=True),
    "call_write_tool": _proxy(read_only=False),
    "list_toolsets": _list_toolsets,
    "enable_toolset": _enable_toolset,
}


async def run_meta(name: str, arguments: Any, call: MetaCall) -> Outcome:
    """Run one discovery tool (`name` must be in `discovery.META_TOOLS`)."""
    args = _object(arguments or {}, "arguments")
    known = META_TOOLS[name].definition.input_schema.get("properties", {})
    unknown = sorted(set(args) - set(known))
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise ArgumentError(f"unknown argument {unknown[0]}; valid: {valid}", field=unknown[0])
    return await _HANDLERS[name](call, args)
