"""Discovery and selection: search quality, what is listed and callable, dynamic mode, budgets.

Everything but the search-quality table goes through the real server and the SDK's client.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.discovery import META_TOOLS
from dversum_mcp.tools.registry import Registry, Selection, SelectionError
from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio

DISCOVERY = {"search_tools", "describe_tool", "call_read_tool", "call_write_tool"}
DYNAMIC = DISCOVERY | {"list_toolsets", "enable_toolset"}

# Tokens per character of the compact listing JSON: o200k_base measures 4.15 characters per token on
# this server's listings (bench/tokens.py). 4.1 errs on the strict side, so CI needs no tokenizer.
CHARS_PER_TOKEN = 4.1


def _names(tools: list[types.Tool]) -> list[str]:
    return [t.name for t in tools]


def _tokens(tools: list[types.Tool]) -> float:
    listing = {"tools": [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]}
    return len(json.dumps(listing, ensure_ascii=False, separators=(",", ":"))) / CHARS_PER_TOKEN


def _error(result: Any) -> str:
    assert result.is_error, result.content
    data = structured(result)
    return f"{data.get('message', '')} {data.get('hint', '')}"


# ---- search (ranking quality: test_search.py) ---------------------------------------------------------------
async def test_search_tools_through_mcp(harness: Harness) -> None:
    async with harness.mcp() as client:
        found = structured(await client.call_tool("search_tools", {"query": "Rechnung an ATAS schicken", "limit": 3}))
        assert found["tools"][0]["name"] == "send_invoice"
        assert found["tools"][0]["inputSchema"]["required"] == ["invoice_id"]
        assert len(found["tools"]) <= 3
        assert "query is required" in _error(await client.call_tool("search_tools", {"query": " "}))
    async with harness.mcp(selection=Selection(toolsets=("all",), read_only=True, sandbox=True)) as client:
        found = structured(await client.call_tool("search_tools", {"query": "send the invoice", "limit": 20}))
        assert found["tools"] and all(t["read_only"] for t in found["tools"])


# ---- selection --------------------------------------------------------------------------------------------------
async def test_default_listing_is_small_and_has_discovery(harness: Harness) -> None:
    async with harness.mcp(selection=Selection(sandbox=True)) as client:
        names = _names((await client.list_tools()).tools)
    assert set(names) >= DISCOVERY
    assert not {"list_toolsets", "enable_toolset"} & set(names)
    tools = [n for n in names if n not in META_TOOLS]
    assert len(tools) <= 40
    assert {"list_clients", "create_invoice", "send_invoice", "start_timer", "create_task"} <= set(tools)


async def test_all_lists_every_tool(harness: Harness, registry: Registry) -> None:
    everything = {n for n, t in registry.tools.items() if not (t.spec.sandbox_only or t.spec.multi_user_only)}
    assert len(everything) == 126
    async with harness.mcp(selection=Selection(toolsets=("all",))) as client:
        names = _names((await client.list_tools()).tools)
    assert len(names) == len(set(names))
    assert set(names) == everything | DISCOVERY


async def test_toolsets_select_whole_toolsets(harness: Harness, registry: Registry) -> None:
    async with harness.mcp(selection=Selection(toolsets=("invoices", "time"))) as client:
        names = set(_names((await client.list_tools()).tools)) - DISCOVERY
    assert names == {n for n, t in registry.tools.items() if t.spec.toolset in ("invoices", "time")}


async def test_read_only_lists_and_runs_only_reads(harness: Harness) -> None:
    async with harness.mcp(selection=Selection(toolsets=("all",), read_only=True, sandbox=True)) as client:
        tools = (await client.list_tools()).tools
        assert tools and all(t.annotations is not None and t.annotations.read_only_hint for t in tools)
        names = set(_names(tools))
        assert {"search_tools", "describe_tool", "call_read_tool", "list_invoices"} <= names
        assert not {"call_write_tool", "create_client", "delete_client"} & names
        before = len(harness.requests)
        assert "not available" in _error(await client.call_tool("create_client", {"name": "ATAS"}))
        via = await client.call_tool("call_write_tool", {"name": "create_client", "arguments": {"name": "ATAS"}})
        assert "not available" in _error(via)
        assert len(harness.requests) == before  # nothing reached the API
        assert not (await client.call_tool("call_read_tool", {"name": "list_clients", "arguments": {}})).is_error


async def test_excluded_tools_are_hidden_and_refused(harness: Harness) -> None:
    selection = Selection(toolsets=("all",), exclude_tools=("list_clients", "delete_client"), sandbox=True)
    async with harness.mcp(selection=selection) as client:
        names = set(_names((await client.list_tools()).tools))
        assert not {"list_clients", "delete_client"} & names and "get_client" in names
        assert "not available" in _error(await client.call_tool("list_clients", {}))
        assert "not available" in _error(await client.call_tool("call_read_tool", {"name": "list_clients"}))
        assert "not available" in _error(await client.call_tool("describe_tool", {"name": "list_clients"}))


async def test_precedence_read_only_then_exclude_then_include(harness: Harness) -> None:
    selection = Selection(
        toolsets=("users",),
        tools=("create_folder", "list_folders", "list_files"),
        exclude_tools=("list_files",),
        read_only=True,
        sandbox=True,
    )
    async with harness.mcp(selection=selection) as client:
        names = set(_names((await client.list_tools()).tools))
    assert "list_folders" in names  # included
    assert "create_folder" not in names  # included, but read-only wins
    assert "list_files" not in names  # included, but excluded wins
    assert {"list_users", "get_user", "get_current_user"} <= names


async def test_documented_only_hides_inferred_tools(harness: Harness, registry: Registry) -> None:
    assert registry.tools["get_invoice"].spec.source == "inferred"
    async with harness.mcp(selection=Selection(toolsets=("all",), documented_only=True, sandbox=True)) as client:
        names = set(_names((await client.list_tools()).tools)) - set(META_TOOLS)
        assert names and all(registry.tools[n].spec.source == "documented" for n in names)
        assert "list_invoices" in names and "get_invoice" not in names
        assert "not available" in _error(await client.call_tool("get_invoice", {"invoice_id": "inv_1"}))


def test_unknown_names_are_configuration_errors(registry: Registry) -> None:
    with pytest.raises(SelectionError, match="unknown toolset"):
        registry.check_names(Selection(toolsets=("invoice",)))
    with pytest.raises(SelectionError, match="unknown tool"):
        registry.check_names(Selection(exclude_tools=("send_invoices",)))
    registry.check_names(Selection(toolsets=("all",), tools=("create_folder",)))


# ---- dynamic mode -----------------------------------------------------------------------------------------------
async def test_dynamic_mode_lists_meta_tools_and_enables_toolsets(harness: Harness, registry: Registry) -> None:
    changed: list[str] = []

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, types.ToolListChangedNotification):
            changed.append(root.method)

    settings = Settings(token=Secret(""), dynamic=True)
    sandbox_tools = {n for n, t in registry.tools.items() if t.spec.toolset == "sandbox"}
    async with harness.mcp(settings=settings, selection=Selection(sandbox=True), message_handler=on_message) as client:
        caps = client.server_capabilities
        assert caps is not None and caps.tools is not None and caps.tools.list_changed
        first = set(_names((await client.list_tools()).tools))
        assert first == DYNAMIC | sandbox_tools

        toolsets = structured(await client.call_tool("list_toolsets", {}))["toolsets"]
        invoices = next(t for t in toolsets if t["toolset"] == "invoices")
        assert invoices["tools"] == 15 and not invoices["enabled"]

        enabled = structured(await client.call_tool("enable_toolset", {"toolset": "invoices"}))
        assert "send_invoice" in enabled["tools"]
        assert changed == ["notifications/tools/list_changed"]
        second = set(_names((await client.list_tools(cache_mode="refresh")).tools))
        invoice_tools = {n for n, t in registry.tools.items() if t.spec.toolset == "invoices"}
        assert second == first | invoice_tools
        assert "enabled" in json.dumps(structured(await client.call_tool("list_toolsets", {})))
        assert "toolset" in _error(await client.call_tool("enable_toolset", {"toolset": "rechnungen"}))


async def test_dynamic_call_tools_run_the_right_kind(harness: Harness) -> None:
    settings = Settings(token=Secret(""), dynamic=True)
    async with harness.mcp(settings=settings, selection=Selection(sandbox=True)) as client:
        created = await client.call_tool(
            "call_write_tool", {"name": "create_client", "arguments": {"name": "ATAS", "email": "a@atas.de"}}
        )
        assert not created.is_error, created.content
        client_id = structured(created)["id"]
        got = await client.call_tool("call_read_tool", {"name": "get_client", "arguments": {"client_id": client_id}})
        assert structured(got)["name"] == "ATAS"
        # arguments sent as a JSON string (a known client habit) work too
        listed = await client.call_tool("call_read_tool", {"name": "list_clients", "arguments": '{"search": "ATAS"}'})
        assert structured(listed)["total"] == 1

        wrong = await client.call_tool("call_read_tool", {"name": "create_client", "arguments": {"name": "X"}})
        assert "call_write_tool" in _error(wrong)
        wrong = await client.call_tool("call_write_tool", {"name": "list_clients", "arguments": {}})
        assert "call_read_tool" in _error(wrong)
        assert "directly" in _error(await client.call_tool("call_read_tool", {"name": "search_tools"}))
        again = await client.call_tool("call_read_tool", {"name": "list_clients", "arguments": {}})
        assert structured(again)["total"] == 1  # the refused calls created nothing


async def test_describe_tool_returns_the_definition(harness: Harness) -> None:
    async with harness.mcp(settings=Settings(token=Secret(""), dynamic=True), selection=Selection(sandbox=True)) as c:
        described = structured(await c.call_tool("describe_tool", {"name": "create_invoice"}))
    assert described["name"] == "create_invoice" and described["toolset"] == "invoices"
    schema = described["inputSchema"]
    assert schema["type"] == "object" and {"client_id", "line_items"} <= set(schema["required"])
    assert schema["properties"]["line_items"]["items"]["type"] == "object"
    assert described["annotations"]["readOnlyHint"] is False


async def test_unknown_tools_suggest_close_names(harness: Harness) -> None:
    async with harness.mcp(selection=Selection(toolsets=("all",), sandbox=True)) as client:
        direct = _error(await client.call_tool("send_invoices", {"invoice_id": "x"}))
        assert "unknown tool" in direct and "Did you mean" in direct and "send_invoice" in direct
        proxied = _error(await client.call_tool("call_read_tool", {"name": "list_invoice", "arguments": {}}))
        assert "Did you mean" in proxied and "list_invoices" in proxied
        described = _error(await client.call_tool("describe_tool", {"name": "create_quotes"}))
        assert "create_quote" in described


# ---- budgets ----------------------------------------------------------------------------------------------------
async def test_listing_budgets(harness: Harness) -> None:
    async with harness.mcp(selection=Selection(toolsets=("all",))) as client:
        everything = (await client.list_tools()).tools
    # 120 before this round; the §14 invoice fields (tax treatment, service period, structured addresses),
    # cursor/fields on every list tool and the MCP Apps _meta on view tools cost about 4 tokens a tool.
    assert _tokens(everything) / len(everything) <= 125
    assert all(t.description and "\n" not in t.description for t in everything)

    async with harness.mcp(selection=Selection()) as client:
        default = (await client.list_tools()).tools
    assert len([t for t in default if t.name not in META_TOOLS]) <= 40

    async with harness.mcp(settings=Settings(token=Secret(""), dynamic=True), selection=Selection()) as client:
        dynamic = (await client.list_tools()).tools
    assert set(_names(dynamic)) == DYNAMIC
    assert _tokens(dynamic) <= 1500
