"""Page tools through MCP against the sandbox: Markdown in and out, validated JSON, lossless appends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio

BRIEF = """# Projektbrief

Budget: **1.190,00 €** für die *Landing Page*.

## Aufgaben

- [x] Kickoff
- [ ] Entwurf

## Nächste Schritte

1. Angebot senden
2. Termin vereinbaren
"""


async def _page(client: Any, **args: Any) -> dict[str, Any]:
    result = await client.call_tool("create_page", {"title": "Brief", **args})
    assert not result.is_error, result.content[0].text
    return structured(result)


async def _json(client: Any, page_id: str) -> dict[str, Any]:
    page = structured(await client.call_tool("get_page", {"page_id": page_id, "format": "prosemirror"}))
    assert page["content_format"] == "prosemirror"
    return dict(page["content"])


async def test_markdown_round_trip_through_the_api(harness: Harness) -> None:
    async with harness.mcp() as client:
        page = await _page(client, content=BRIEF, icon="📋")
        request = next(r for r in harness.requests if r.method == "POST" and r.url.path.endswith("/pages"))
        assert json.loads(request.content)["content"] == BRIEF  # Markdown passes through; the API converts
        markdown = structured(await client.call_tool("get_page", {"page_id": page["id"]}))["content"]
        assert "**1.190,00 €**" in markdown and "- [x] Kickoff" in markdown and "1. Angebot senden" in markdown
        doc = await _json(client, page["id"])
        assert doc["content"][0] == {
            "type": "heading",
            "attrs": {"level": 1},
            "content": [{"type": "text", "text": "Projektbrief"}],
        }
        assert any(node["type"] == "taskList" for node in doc["content"])


async def test_json_content_is_validated_first(harness: Harness) -> None:
    async with harness.mcp() as client:
        good = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hallo"}]}]}
        page = await _page(client, content_json=good)
        assert (await _json(client, page["id"])) == good
        before = len(harness.requests)
        bad = {"type": "doc", "content": [{"type": "paragraf"}]}
        result = await client.call_tool("replace_page_content", {"page_id": page["id"], "content_json": bad})
        assert result.is_error and structured(result)["field"] == "content_json"
        assert "paragraf" in result.content[0].text
        both = await client.call_tool("create_page", {"title": "x", "content": "a", "content_json": good})
        assert both.is_error and structured(both)["field"] == "content_json"
        assert len(harness.requests) == before  # nothing sent for invalid calls
        stringified = await client.call_tool(
            "replace_page_content", {"page_id": page["id"], "content_json": json.dumps(good)}
        )
        assert not stringified.is_error  # an object sent as a JSON string is decoded


async def test_append_and_insert_leave_existing_nodes_untouched(harness: Harness) -> None:
    async with harness.mcp() as client:
        page = await _page(client, content=BRIEF)
        original = await _json(client, page["id"])
        appended = await client.call_tool("append_to_page", {"page_id": page["id"], "content": "> Notiz vom Freitag"})
        assert not appended.is_error and "Notiz vom Freitag" in structured(appended)["content"]
        after = await _json(client, page["id"])
        assert after["content"][: len(original["content"])] == original["content"]
        assert after["content"][-1]["type"] == "blockquote"

        inserted = await client.call_tool(
            "insert_into_page", {"page_id": page["id"], "heading": "aufgaben", "content": "- [ ] Review"}
        )
        assert not inserted.is_error
        final = await _json(client, page["id"])
        headings = [i for i, n in enumerate(final["content"]) if n["type"] == "heading"]
        section = final["content"][headings[1] : headings[2]]
        assert json.dumps(section, ensure_ascii=False).count("Review") == 1
        kept = [n for n in final["content"] if "Review" not in json.dumps(n)]
        assert kept == after["content"]

        missing = await client.call_tool(
            "insert_into_page", {"page_id": page["id"], "heading": "Budget", "content": "x"}
        )
        assert missing.is_error and "Nächste Schritte" in missing.content[0].text


async def test_tree_move_and_delete(harness: Harness) -> None:
    async with harness.mcp() as client:
        parent = await _page(client, content="# Wiki")
        child = structured(await client.call_tool("create_page", {"title": "Onboarding", "parent_id": parent["id"]}))
        other = await _page(client, content="# Archiv")
        tree = structured(await client.call_tool("get_page_tree", {}))["pages"]
        assert sorted(p["id"] for p in tree) == sorted([parent["id"], other["id"]])
        wiki = next(p for p in tree if p["id"] == parent["id"])
        assert [c["id"] for c in wiki["children"]] == [child["id"]]

        cycle = await client.call_tool("move_page", {"page_id": parent["id"], "parent_id": child["id"]})
        assert cycle.is_error and structured(cycle)["field"] == "parent_id"
        moved = await client.call_tool("move_page", {"page_id": child["id"], "parent_id": other["id"]})
        assert not moved.is_error

        refused = await client.call_tool("delete_page", {"page_id": other["id"]})
        assert refused.is_error and structured(refused)["status"] == 409
        gone = await client.call_tool("delete_page", {"page_id": other["id"], "children": "move_up"})
        assert not gone.is_error
        stated = structured(gone)
        assert stated["children_moved_up"] == [{"id": child["id"], "title": "Onboarding"}]
        assert stated.get("new_parent_id") is None and "moved up to the top level" in stated["message"]
        tree = structured(await client.call_tool("get_page_tree", {}))["pages"]
        assert child["id"] in {p["id"] for p in tree}
        leaf = await client.call_tool("delete_page", {"page_id": child["id"]})
        assert "no child pages" in structured(leaf)["message"]


async def test_concurrent_edits_of_one_page_lose_nothing(harness: Harness) -> None:
    """An edit is GET + PUT (the API has no ETag); over a real network, concurrent appends and
    inserts on one page would each PUT the page as they read it, and all but one would be lost.
    The server serializes edits per page, so every one of them lands."""
    import anyio
    from mcp import Client

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.api.limiter import RateLimiter
    from dversum_mcp.config import Secret, Settings
    from dversum_mcp.server.handlers import ServerState, build_server
    from dversum_mcp.tools.registry import Selection
    from tests.dversum_mcp.test_http_transports import _serve

    with _serve(harness.app) as base:
        api = ApiClient(base_url=f"{base}/api/v1", token=harness.token, limiter=RateLimiter(100_000, 60.0))
        state = ServerState(
            Settings(token=Secret("")), harness.registry, api, Selection(toolsets=("all",), sandbox=True)
        )
        async with api, Client(build_server(state), mode="legacy") as client:
            page = await _page(client, content="# Protokoll\n\n## Offen\n")
            edits = [("append_to_page", {"content": f"Eintrag {i}"}) for i in range(10)]
            edits += [("insert_into_page", {"heading": "Offen", "content": f"Punkt {i}"}) for i in range(4)]

            async def edit(tool: str, args: dict[str, Any]) -> None:
                result = await client.call_tool(tool, {"page_id": page["id"], **args})
                assert not result.is_error, result.content[0].text

            async with anyio.create_task_group() as group:
                for tool, args in edits:
                    group.start_soon(edit, tool, args)
            text = structured(await client.call_tool("get_page", {"page_id": page["id"]}))["content"]
    missing = [args["content"] for _, args in edits if args["content"] not in text]
    assert missing == [], text
