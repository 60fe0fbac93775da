"""The kanban board view in headless Chromium: it renders the seeded project's columns and cards,
and moving a card (mouse drag or keyboard) or ticking it goes through the host to the real tools."""

from __future__ import annotations

from typing import Any

import pytest

from tests.views.conftest import Host, Sandbox, mcp_session, view_host

pytestmark = pytest.mark.anyio


async def _project(host: Host, name: str) -> str:
    projects = (await host.client.call_tool("list_projects", {})).structured_content or {}
    return str(next(p["id"] for p in projects["projects"] if p["name"] == name))


async def _board(host: Host, project_id: str) -> dict[str, Any]:
    result = await host.client.call_tool("show_project_board", {"project_id": project_id})
    assert not result.is_error, result.content
    return dict(result.structured_content or {})


async def _rendered(host: Host) -> list[tuple[str, list[str]]]:
    frame = await host.frame()
    rows = list(
        await frame.evaluate(
            """() => [...document.querySelectorAll('.column')].map(c => [
                c.querySelector('h2').textContent,
                [...c.querySelectorAll('.card .title')].map(t => t.textContent)])"""
        )
    )
    return [(str(name), list(titles)) for name, titles in rows]


def _expected(board: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(c["name"], [t["title"] for t in c["tasks"]]) for c in board["columns"]]


async def _wait_status(host: Host, text: str) -> None:
    frame = await host.frame()
    await frame.wait_for_function("t => document.getElementById('status').textContent.includes(t)", arg=text)


async def test_board_renders_the_seeded_project(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        project_id = await _project(host, "Interne Organisation")
        await host.open("list_project_tasks", {"project_id": project_id})
        board = await _board(host, project_id)
        await host.view.locator(".card").first.wait_for()
        assert [c for c, _ in _expected(board)] == ["To do", "In progress", "Done"]
        assert await _rendered(host) == _expected(board)
        # A card shows assignees, due date and subtask progress.
        card = host.view.locator(".card", has_text="Team-Offsite planen")
        assert await card.locator(".assignee").all_text_contents() == ["LH Lena Hoffmann"]
        offsite = next(t for c in board["columns"] for t in c["tasks"] if t["title"] == "Team-Offsite planen")
        year, month, day = offsite["due_date"].split("-")  # the seed's dates are relative to today
        assert f"{day}.{month}.{year}" in await card.locator(".due").text_content()
        assert await card.locator(".subtasks").text_content() == "1/2"
        host.assert_clean()


async def test_drag_and_keyboard_move_tasks_through_the_api(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        project_id = await _project(host, "Interne Organisation")
        await host.open("show_project_board", {"project_id": project_id})
        before = await _board(host, project_id)
        todo = before["columns"][0]
        moved = todo["tasks"][0]
        # Mouse: drag the first "To do" card onto the top of "In progress".
        source = host.view.locator(".card", has_text=moved["title"])
        target = host.view.locator(".column").nth(1).locator(".card").first
        await source.drag_to(target, target_position={"x": 20, "y": 3})
        await _wait_status(host, "Moved")
        after = await _board(host, project_id)
        assert after["columns"][1]["tasks"][0]["id"] == moved["id"]
        assert moved["id"] not in [t["id"] for t in after["columns"][0]["tasks"]]
        assert await _rendered(host) == _expected(after)

        # Keyboard: focus the card, Space picks it up, → → moves it to "Done", ↓ one down, Space drops.
        card = host.view.locator(".card", has_text=moved["title"])
        await card.focus()
        await host.page.keyboard.press("Space")
        await host.page.keyboard.press("ArrowRight")
        await host.page.keyboard.press("ArrowDown")
        await host.page.keyboard.press("Space")
        await _wait_status(host, "Done, position 2")
        final = await _board(host, project_id)
        assert [t["id"] for t in final["columns"][2]["tasks"]].index(moved["id"]) == 1
        assert await _rendered(host) == _expected(final)
        # Focus stays on the moved card, so it can be moved on without the mouse.
        frame = await host.frame()
        assert await frame.evaluate("document.activeElement.dataset.taskId") == moved["id"]
        # Escape cancels a pick-up: nothing moves.
        await host.page.keyboard.press("Space")
        await host.page.keyboard.press("ArrowLeft")
        await host.page.keyboard.press("Escape")
        assert _expected(await _board(host, project_id)) == _expected(final)
        assert [c for c, _ in host.calls].count("move_task") == 2
        told = await host.page.evaluate("window.__modelContext.map(p => p.content[0].text)")
        assert len(told) == 2 and all(moved["id"] in t for t in told)  # the model hears what the user did
        host.assert_clean()


async def test_ticking_a_card_toggles_done(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        project_id = await _project(host, "Interne Organisation")
        await host.open("show_project_board", {"project_id": project_id})
        task = (await _board(host, project_id))["columns"][0]["tasks"][0]
        await host.view.locator(".card", has_text=task["title"]).locator(".tick").check()
        await _wait_status(host, "Done:")
        got = await host.client.call_tool("get_task", {"task_id": task["id"]})
        assert (got.structured_content or {})["done"] is True
        assert await host.view.locator(".card.done", has_text=task["title"]).count() == 1


async def test_host_theme_and_variables_apply_and_follow_changes(sandbox: Sandbox, browser: Any) -> None:
    from tests.views.conftest import DARK

    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        project_id = await _project(host, "Interne Organisation")
        await host.open("show_project_board", {"project_id": project_id}, DARK)
        await host.view.locator(".card").first.wait_for()
        frame = await host.frame()
        style = "() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]"
        assert await frame.evaluate(style) == ["rgb(16, 17, 20)", "rgb(241, 242, 244)"]
        assert await frame.evaluate("document.documentElement.dataset.theme") == "dark"
        await host.page.evaluate(
            """() => hostSend('ui/notifications/host-context-changed',
                {theme: 'light', styles: {variables: {'--color-background-primary': '#fafafa',
                                                      '--color-text-primary': '#111111'}}})"""
        )
        await frame.wait_for_function("document.documentElement.dataset.theme === 'light'")
        assert await frame.evaluate(style) == ["rgb(250, 250, 250)", "rgb(17, 17, 17)"]


async def test_narrow_pane_stacks_the_columns(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser, width=400) as host:
        project_id = await _project(host, "Interne Organisation")
        await host.open("show_project_board", {"project_id": project_id})
        await host.view.locator(".card").first.wait_for()
        frame = await host.frame()
        boxes = await frame.evaluate(
            "() => [...document.querySelectorAll('.column')].map(c => c.getBoundingClientRect().toJSON())"
        )
        assert len({round(b["x"]) for b in boxes}) == 1  # one above the other
        assert all(b["right"] <= 400 for b in boxes)
        assert await frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
