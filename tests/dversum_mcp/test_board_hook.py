"""`show_project_board` (hook `project_board`): columns in board order, each with its tasks in
board order and the card fields, empty columns included, across task pages."""

from __future__ import annotations

import pytest

from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio


async def test_board_has_every_column_with_its_tasks_in_order(harness: Harness) -> None:
    async with harness.mcp() as client:
        project = structured(await client.call_tool("create_project", {"name": "Relaunch"}))
        extra = structured(
            await client.call_tool(
                "create_project_column", {"project_id": project["id"], "name": "Review", "position": 1}
            )
        )
        columns = structured(await client.call_tool("list_project_columns", {"project_id": project["id"]}))["columns"]
        todo = columns[0]["id"]
        titles = [f"Task {i:03d}" for i in range(105)]  # more than one page of tasks
        ids = []
        for title in titles:
            arguments = {"project_id": project["id"], "column_id": todo, "title": title}
            created = await client.call_tool("create_task", arguments)
            ids.append(structured(created)["id"])
        await client.call_tool("create_subtask", {"task_id": ids[1], "title": "Check"})
        await client.call_tool("move_task", {"task_id": ids[2], "column_id": extra["id"], "position": 0})
        await client.call_tool("move_task", {"task_id": ids[3], "column_id": todo, "position": 0})

        board = structured(await client.call_tool("show_project_board", {"project_id": project["id"]}))
        assert board["project"]["name"] == "Relaunch"
        assert [c["name"] for c in board["columns"]] == ["To do", "Review", "In progress", "Done"]
        first, review, doing, done = board["columns"]
        assert [t["id"] for t in review["tasks"]] == [ids[2]]
        assert doing.get("tasks", []) == [] and done.get("tasks", []) == []  # empty lists are left out
        assert [t["title"] for t in first["tasks"]][:3] == ["Task 003", "Task 000", "Task 001"]
        # 104 cards are over the result budget: the board keeps the first ones in order and says so
        assert len(first["tasks"]) == 104 or any("of 104" in n for n in board.get("notes", []))
        card = next(t for t in first["tasks"] if t["id"] == ids[1])
        assert card["subtask_count"] == 1 and card.get("subtasks_done", 0) == 0
        assert set(card) <= {
            "id", "title", "position", "done", "due_date", "priority", "tags", "assignees",
            "subtask_count", "subtasks_done", "comment_count", "estimate_minutes",
        }  # fmt: skip


async def test_unknown_project_is_a_clear_error(harness: Harness) -> None:
    async with harness.mcp() as client:
        result = await client.call_tool("show_project_board", {"project_id": "nope"})
        assert result.is_error
        assert structured(result)["status"] == 404
