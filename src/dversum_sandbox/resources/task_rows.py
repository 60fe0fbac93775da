"""Task rows shared by projects.py and tasks.py: schema, the task JSON, and moving a task between columns.

Moving lives here because two endpoints move tasks: `PATCH /tasks/{id}/move` and deleting a
kanban column with `move_tasks_to`. Both follow the same rules: positions dense in source and
target column, and a done column marks its tasks done (leaving one reopens them).
"""

from __future__ import annotations

from typing import Any

from dversum_sandbox.db import Row, loads
from dversum_sandbox.framework import Ctx
from dversum_sandbox.positions import compact, place

__all__ = ["SCHEMA", "column_scope", "done_values", "relocate", "task_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, project_id TEXT NOT NULL, column_id TEXT NOT NULL,
  position INTEGER NOT NULL, title TEXT NOT NULL, description TEXT, due_date TEXT,
  priority TEXT NOT NULL DEFAULT 'medium', tags TEXT NOT NULL DEFAULT '[]', estimate_minutes INTEGER,
  done INTEGER NOT NULL DEFAULT 0, completed_at TEXT, created_by TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_column ON tasks(column_id, position);
CREATE INDEX IF NOT EXISTS tasks_org_project ON tasks(org_id, project_id);
CREATE TABLE IF NOT EXISTS task_assignees (
  task_id TEXT NOT NULL, user_id TEXT NOT NULL, org_id TEXT NOT NULL, PRIMARY KEY (task_id, user_id)
);
CREATE INDEX IF NOT EXISTS task_assignees_user ON task_assignees(user_id);
"""

column_scope = "column_id = ?"
"""The positions scope of tasks: one kanban column."""


def done_values(ctx: Ctx, done: bool) -> dict[str, Any]:
    return {"done": int(done), "completed_at": ctx.timestamp() if done else None}


def task_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    db = ctx.db
    column = db.one("SELECT id, name FROM project_columns WHERE id = ?", (row["column_id"],))
    assignees = db.all(
        "SELECT u.id, u.name, u.email FROM task_assignees a JOIN users u ON u.id = a.user_id "
        "WHERE a.task_id = ? ORDER BY a.rowid",
        (row["id"],),
    )
    subtasks = db.one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(done), 0) AS d FROM subtasks WHERE task_id = ?", (row["id"],)
    ) or {"n": 0, "d": 0}
    comments = db.scalar("SELECT COUNT(*) FROM task_comments WHERE task_id = ?", (row["id"],))
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "column_id": row["column_id"],
        "column": column,
        "position": row["position"],
        "title": row["title"],
        "description": row["description"],
        "due_date": row["due_date"],
        "priority": row["priority"],
        "tags": loads(row["tags"]) or [],
        "estimate_minutes": row["estimate_minutes"],
        "done": bool(row["done"]),
        "completed_at": row["completed_at"],
        "assignees": assignees,
        "assignee_ids": [a["id"] for a in assignees],
        "subtask_count": subtasks["n"],
        "subtasks_done": subtasks["d"],
        "comment_count": comments,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def relocate(ctx: Ctx, task: Row, target: Row, position: int | None) -> tuple[Row, bool]:
    """Move `task` into column row `target` at `position`; returns the new row and whether it became done."""
    source = ctx.db.one("SELECT * FROM project_columns WHERE id = ?", (task["column_id"],))
    values: dict[str, Any] = {
        "column_id": target["id"],
        "project_id": target["project_id"],
        "updated_at": ctx.timestamp(),
    }
    became_done = False
    if target["is_done_column"] and not task["done"]:
        values.update(done_values(ctx, True))
        became_done = True
    elif task["done"] and source is not None and source["is_done_column"] and not target["is_done_column"]:
        values.update(done_values(ctx, False))
    ctx.db.update("tasks", task["id"], values)
    if task["project_id"] != target["project_id"]:
        ctx.db.execute(
            "UPDATE time_entries SET project_id = ?, updated_at = ? WHERE task_id = ? AND org_id = ?",
            (target["project_id"], values["updated_at"], task["id"], ctx.org_id),
        )
    if task["column_id"] != target["id"]:
        compact(ctx.db, "tasks", column_scope, (task["column_id"],))
    values["position"] = place(ctx.db, "tasks", column_scope, (target["id"],), task["id"], position)
    return {**task, **values}, became_done
