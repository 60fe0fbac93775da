"""Errors that name a field say what the table knows about it, so the model's next try is right."""

from __future__ import annotations

import pytest

from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio


async def test_a_tiptap_object_in_content_points_to_content_json(harness: Harness) -> None:
    doc = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hallo"}]}]}
    async with harness.mcp() as client:
        result = await client.call_tool("create_page", {"title": "Notizen", "content": doc})
        assert result.is_error
        error = structured(result)
        assert error["field"] == "content" and "content_json" in error["hint"]
        assert not harness.requests  # refused before any request
        fixed = await client.call_tool("create_page", {"title": "Notizen", "content_json": doc})
        assert not fixed.is_error, fixed.content


async def test_a_country_name_is_answered_with_the_code_it_needs(harness: Harness) -> None:
    async with harness.mcp() as client:
        result = await client.call_tool("create_client", {"name": "X GmbH", "email": "x@x.de", "country": "Germany"})
        error = structured(result)
        assert result.is_error and error["field"] == "country"
        assert "ISO 3166-1 alpha-2" in error["hint"] and "DE" in error["hint"]


async def test_a_column_name_as_column_id_points_to_list_project_columns(harness: Harness) -> None:
    async with harness.mcp() as client:
        project = structured(await client.call_tool("create_project", {"name": "Relaunch"}))
        result = await client.call_tool("create_task", {"project_id": project["id"], "title": "x", "column_id": "Done"})
        error = structured(result)
        assert result.is_error and error["field"] == "column_id"
        assert "list_project_columns" in error["hint"] and "name" in error["hint"]


async def test_a_not_found_names_the_ids_sent_and_the_tool_that_lists_the_right_ones(harness: Harness) -> None:
    ghost = "00000000-0000-4000-8000-000000000000"
    async with harness.mcp() as client:
        result = await client.call_tool("get_invoice", {"invoice_id": ghost})
        error = structured(result)
        assert result.is_error and error["error"] == "not_found"
        assert f"invoice_id '{ghost}'" in error["hint"] and "from list_invoices" in error["hint"]
        slots = await client.call_tool(
            "get_booking_slots",
            {"user_slug": "admin", "type_slug": "erstgespraech", "from": "2027-01-04", "to": "2027-01-05"},
        )
        hint = structured(slots)["hint"]
        assert "user_slug from get_current_user" in hint and "type_slug from get_current_user" in hint
        comment = await client.call_tool("delete_task_comment", {"task_id": ghost, "comment_id": ghost})
        hint = structured(comment)["hint"]
        assert "task_id from list_tasks" in hint and "comment_id from list_task_comments" in hint


def test_every_path_parameter_but_a_signing_token_has_a_tool_that_lists_its_values() -> None:
    from dversum_mcp.tools.registry import Registry

    registry = Registry()
    names = {p.name for t in registry.tools.values() for p in t.spec.params if p.where == "path"}
    assert names - set(registry.finders) == {"signing_token"}  # it comes in the signing link's e-mail
    assert all(finder in registry.tools for finder in registry.finders.values())
