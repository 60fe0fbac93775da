"""`show_project_board`: a project's kanban board in one result (columns in order, each with its
tasks in board order), so a board view (or the model) never has to join columns and tasks itself.

Two reads: the project (with its columns) from the table entry's own path, then every page of the
project's tasks.
"""

from __future__ import annotations

from typing import Any

from dversum_mcp.api.calls import MAX_ALL_PAGES_ITEMS, Call, Outcome, list_page

__all__ = ["project_board"]

_CARD_FIELDS = (
    "id",
    "title",
    "position",
    "done",
    "due_date",
    "priority",
    "tags",
    "assignees",
    "subtask_count",
    "subtasks_done",
    "comment_count",
    "estimate_minutes",
)


def _position(item: dict[str, Any]) -> tuple[int, str]:
    value = item.get("position")
    return (value if isinstance(value, int) else 1 << 30, str(item.get("id")))


async def project_board(call: Call) -> Outcome:
    response = await call.send(query={})
    project = response.data if isinstance(response.data, dict) else {}
    tasks: list[dict[str, Any]] = []
    page = 1
    method, path = call.endpoint("list_project_tasks", id=call.path_args["id"])
    while len(tasks) < MAX_ALL_PAGES_ITEMS:
        chunk, total = list_page(await call.send(method, path, query={"page": page, "per_page": 100}), "tasks")
        tasks.extend(chunk)
        if len(chunk) < 100 or page * 100 >= total:
            break  # the last page: a hostile total or page of non-objects cannot make it walk on forever
        page += 1
    columns = sorted((c for c in project.get("columns", []) if isinstance(c, dict)), key=_position)
    by_column: dict[str, list[dict[str, Any]]] = {str(c.get("id")): [] for c in columns}
    for task in sorted(tasks, key=_position):
        by_column.setdefault(str(task.get("column_id")), []).append({k: task.get(k) for k in _CARD_FIELDS})
    board = {
        "project": {k: project.get(k) for k in ("id", "name", "client", "status", "color")},
        "columns": [
            {
                "id": c.get("id"),
                "name": c.get("name"),
                "position": c.get("position"),
                "is_done_column": c.get("is_done_column"),
                "tasks": by_column.get(str(c.get("id")), []),
            }
            for c in columns
        ],
        "task_counts": project.get("task_counts"),
    }
    warnings = []
    if len(tasks) >= MAX_ALL_PAGES_ITEMS:
        warnings.append(f"Only the first {MAX_ALL_PAGES_ITEMS} tasks are on this board.")
    return Outcome(board, warnings=warnings)
