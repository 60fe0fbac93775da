"""Data is text in every view: task titles, names, line descriptions, notes and time-entry texts
with HTML or script in them show as the characters they are; no element is created from them, no
dialog opens, no request leaves the page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.views.conftest import Host, Sandbox, mcp_session, view_host
from tests.views.screenshots import week_window

pytestmark = pytest.mark.anyio

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert('agenda')</script>"
SVG = "<svg onload=alert(3)></svg>"
ATTR = '"><b onmouseover=alert(4)>bold</b>'

_FOREIGN = """() => ({
    elements: document.querySelectorAll('img, svg, b, iframe, object, embed, video, audio').length,
    scripts: document.scripts.length,
    text: document.body.innerText,
})"""


async def _check(host: Host, *payloads: str) -> None:
    frame = await host.frame()
    seen = await frame.evaluate(_FOREIGN)
    assert seen["elements"] == 0, seen
    assert seen["scripts"] == 1  # the view's own
    for payload in payloads:
        assert payload in seen["text"], (payload, seen["text"][:2000])
    host.assert_clean()


def _sc(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content or {})


async def test_payloads_stay_text_in_every_view(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        project = _sc(await client.call_tool("create_project", {"name": SVG}))
        columns = _sc(await client.call_tool("list_project_columns", {"project_id": project["id"]}))["columns"]
        me = _sc(await client.call_tool("get_current_user", {}))
        await client.call_tool(
            "create_task",
            {"project_id": project["id"], "column_id": columns[0]["id"], "title": IMG, "assignee_ids": [me["id"]]},
        )
        await client.call_tool(
            "create_task", {"project_id": project["id"], "column_id": columns[1]["id"], "title": SCRIPT}
        )

        await host.open("list_project_tasks", {"project_id": project["id"]})
        await host.view.locator(".card").nth(1).wait_for()
        await _check(host, IMG, SCRIPT, SVG)

        customer = _sc(await client.call_tool("create_client", {"name": ATTR, "email": "x@example.com"}))
        line = {"description": SCRIPT, "quantity": 1, "unit": IMG, "unit_price_cents": 1000, "tax_rate": 19}
        await host.open("create_invoice", {"client_id": customer["id"], "line_items": [line], "notes": SVG})
        await host.view.locator("[data-total=gross]").wait_for()
        await _check(host, SCRIPT, IMG, SVG, ATTR)

        window = week_window(date.today())
        start = datetime.fromisoformat(window["from"].replace("Z", "+00:00")) + timedelta(hours=9)
        entry = {
            "project_id": project["id"],
            "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": "1h",
            "description": SCRIPT + IMG,
        }
        _sc(await client.call_tool("create_time_entry", entry))
        await host.open("summarize_time", window)
        await host.view.locator(".seg[data-project]").first.wait_for()
        day = start.date().isoformat()
        await host.view.locator(f".day[data-day='{day}']").click()
        await host.view.locator("#entries tbody tr").first.wait_for()
        await _check(host, SCRIPT + IMG, SVG)
