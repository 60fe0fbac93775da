"""Kanban tasks: create, list (per project in board order, or across projects), update, move, done, assign.

Positions are dense 0..n-1 per column and renumbered inside the request's transaction, so
concurrent moves never lose a task or leave gaps. Subtasks and comments are in
`task_items.py`; their endpoints are served from here.
"""

from __future__ import annotations

from typing import Any

from dversum_sandbox.db import Row, dumps
from dversum_sandbox.errors import conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.positions import compact, place
from dversum_sandbox.resources import task_items
from dversum_sandbox.resources.task_rows import SCHEMA as _TASKS_SCHEMA
from dversum_sandbox.resources.task_rows import column_scope, done_values, relocate, task_json
from dversum_sandbox.util import check_users, nullable, optional_text, ref, search_clause

__all__ = ["ENDPOINTS", "PRIORITIES", "SCHEMA"]

SCHEMA = _TASKS_SCHEMA + task_items.SCHEMA

PRIORITIES = ("low", "medium", "high", "urgent")
_BOARD_ORDER = "(SELECT position FROM project_columns WHERE id = tasks.column_id), position, rowid"


def _tags(ctx: Ctx) -> Any:
    tags = nullable(ctx, "tags", lambda: ctx.string_list("tags"))
    if tags is MISSING:
        return MISSING
    cleaned = [t.strip() for t in tags or []]
    if any(not t or len(t) > 50 for t in cleaned) or len(cleaned) > 50:
        raise validation("tags", "tags must be up to 50 non-empty strings of at most 50 characters")
    return list(dict.fromkeys(cleaned))


def _read_fields(ctx: Ctx, *, create: bool) -> dict[str, Any]:
    due = nullable(ctx, "due_date", lambda: ctx.date_field("due_date"))
    tags = _tags(ctx)
    values: dict[str, Any] = {
        "title": ctx.string("title", required=create, max_length=300),
        "description": optional_text(ctx, "description", max_length=100_000),
        "due_date": due.isoformat() if due not in (MISSING, None) else due,
        "priority": ctx.choice("priority", PRIORITIES),
        "tags": dumps(tags) if tags is not MISSING else MISSING,
        "estimate_minutes": nullable(
            ctx, "estimate_minutes", lambda: ctx.integer("estimate_minutes", minimum=0, maximum=10**7)
        ),
    }
    if isinstance(values["title"], str):
        values["title"] = values["title"].strip()
    return {k: v for k, v in values.items() if v is not MISSING}


def _assignee_ids(ctx: Ctx) -> Any:
    ids = nullable(ctx, "assignee_ids", lambda: ctx.id_list("assignee_ids"))
    if ids is None:
        return []
    if ids is not MISSING:
        check_users(ctx, ids, "assignee_ids")
    return ids


def _set_assignees(ctx: Ctx, task_id: str, ids: list[str]) -> bool:
    """Replace the assignees; returns whether the set changed."""
    before = [r["user_id"] for r in ctx.db.all("SELECT user_id FROM task_assignees WHERE task_id = ?", (task_id,))]
    ctx.db.execute("DELETE FROM task_assignees WHERE task_id = ?", (task_id,))
    for user_id in ids:
        ctx.db.insert("task_assignees", {"task_id": task_id, "user_id": user_id, "org_id": ctx.org_id})
    return set(before) != set(ids)


def _project_column(ctx: Ctx, project_id: str, column_id: str) -> Row:
    column = ref(ctx, "project_columns", "column_id", column_id, "column")
    if column["project_id"] != project_id:
        raise validation(
            "column_id",
            f"column {column_id} belongs to project {column['project_id']}, not {project_id}; "
            f"GET /projects/{project_id}/columns lists the project's columns",
        )
    return column


def create_task(ctx: Ctx) -> dict[str, Any]:
    project_id = ctx.id_field("project_id", required=True)
    values = _read_fields(ctx, create=True)
    column_id = ctx.id_field("column_id")
    assignees = _assignee_ids(ctx)
    if assignees is MISSING:
        assignees = []
    ref(ctx, "projects", "project_id", project_id, "project")
    if column_id is not MISSING:
        column = _project_column(ctx, project_id, column_id)
    else:
        first = ctx.db.one(
            "SELECT * FROM project_columns WHERE project_id = ? ORDER BY position, rowid LIMIT 1", (project_id,)
        )
        if first is None:
            raise conflict(
                f"Project {project_id} has no kanban columns; add one with POST /projects/{project_id}/columns first",
                "column_id",
                "project_has_no_columns",
            )
        column = first
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "project_id": project_id,
        "column_id": column["id"],
        "position": 1_000_000_000,
        "description": None,
        "due_date": None,
        "priority": "medium",
        "tags": "[]",
        "estimate_minutes": None,
        **values,
        **done_values(ctx, bool(column["is_done_column"])),
        "created_by": ctx.user_id,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("tasks", row)
    row["position"] = place(ctx.db, "tasks", column_scope, (column["id"],), row["id"], None)
    _set_assignees(ctx, row["id"], assignees)
    out = task_json(ctx, row)
    ctx.emit("task.created", out)
    if assignees:
        ctx.emit("task.assigned", out)
    return out


def _filters(ctx: Ctx, where: str, params: list[Any]) -> tuple[str, list[Any]]:
    assignee = ctx.q_id("assignee_id")
    if assignee is not None:
        where += " AND id IN (SELECT task_id FROM task_assignees WHERE user_id = ?)"
        params.append(assignee)
    done = ctx.q_bool("done")
    if done is not None:
        where += " AND done = ?"
        params.append(int(done))
    return where, params


def list_project_tasks(ctx: Ctx) -> dict[str, Any]:
    project = ctx.fetch("projects", "project")
    where, params = _filters(ctx, "FROM tasks WHERE org_id = ? AND project_id = ?", [ctx.org_id, project["id"]])
    column_id = ctx.q_id("column_id")
    if column_id is not None:
        where += " AND column_id = ?"
        params.append(column_id)
    return ctx.paginate("tasks", where, params, _BOARD_ORDER, lambda r: task_json(ctx, r))


def list_tasks(ctx: Ctx) -> dict[str, Any]:
    where, params = _filters(ctx, "FROM tasks WHERE org_id = ?", [ctx.org_id])
    project_id = ctx.q_id("project_id")
    if project_id is not None:
        where += " AND project_id = ?"
        params.append(project_id)
    due_before = ctx.q_date("due_before")
    if due_before is not None:
        where += " AND due_date IS NOT NULL AND due_date < ?"
        params.append(due_before.isoformat())
    search = ctx.q("search")
    if search:
        clause, extra = search_clause(ctx, ["title"], search)
        where += clause
        params += extra
    return ctx.paginate(
        "tasks", where, params, "due_date IS NULL, due_date, created_at, rowid", lambda r: task_json(ctx, r)
    )


def get_task(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("tasks", "task")
    return {**task_json(ctx, row), "subtasks": task_items.subtasks_of(ctx, row["id"])}


def update_task(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("tasks", "task")
    values = _read_fields(ctx, create=False)
    assignees = _assignee_ids(ctx)
    values["updated_at"] = ctx.timestamp()
    ctx.db.update("tasks", row["id"], values)
    changed = assignees is not MISSING and _set_assignees(ctx, row["id"], assignees)
    out = task_json(ctx, {**row, **values})
    ctx.emit("task.updated", out)
    if changed:
        ctx.emit("task.assigned", out)
    return out


def move_task(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("tasks", "task")
    column_id = ctx.id_field("column_id", required=True)
    project_id = ctx.id_field("project_id")
    position = ctx.integer("position", minimum=0)
    if project_id is MISSING:
        project_id = row["project_id"]
    else:
        ref(ctx, "projects", "project_id", project_id, "project")
    column = _project_column(ctx, project_id, column_id)
    moved, became_done = relocate(ctx, row, column, None if position is MISSING else position)
    out = task_json(ctx, moved)
    ctx.emit("task.moved", out)
    if became_done:
        ctx.emit("task.completed", out)
    return out


def toggle_done(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("tasks", "task")
    values = {**done_values(ctx, not row["done"]), "updated_at": ctx.timestamp()}
    return ctx.update_and_emit("tasks", row, values, task_json, "task.completed" if values["done"] else "task.updated")


def assign_task(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("tasks", "task")
    ids = ctx.id_list("assignee_ids", required=True)
    check_users(ctx, ids, "assignee_ids")
    _set_assignees(ctx, row["id"], ids)
    values = {"updated_at": ctx.timestamp()}
    return ctx.update_and_emit("tasks", row, values, task_json, "task.assigned")


def delete_task(ctx: Ctx) -> None:
    row = ctx.fetch("tasks", "task")
    out = task_json(ctx, row)
    for table in ("task_assignees", "subtasks", "task_comments"):
        ctx.db.execute(f"DELETE FROM {table} WHERE task_id = ?", (row["id"],))  # noqa: S608
    ctx.db.execute(
        "UPDATE time_entries SET task_id = NULL, updated_at = ? WHERE task_id = ? AND org_id = ?",
        (ctx.timestamp(), row["id"], ctx.org_id),
    )
    ctx.db.execute("DELETE FROM tasks WHERE id = ?", (row["id"],))
    compact(ctx.db, "tasks", column_scope, (row["column_id"],))
    ctx.emit("task.deleted", out)


ENDPOINTS = [
    Endpoint("GET", "/projects/{id}/tasks", list_project_tasks),
    Endpoint("GET", "/tasks", list_tasks),
    Endpoint("POST", "/tasks", create_task, status=201),
    Endpoint("GET", "/tasks/{id}", get_task),
    Endpoint("PUT", "/tasks/{id}", update_task),
    Endpoint("DELETE", "/tasks/{id}", delete_task),
    Endpoint("PATCH", "/tasks/{id}/move", move_task),
    Endpoint("PATCH", "/tasks/{id}/toggle-done", toggle_done),
    Endpoint("PUT", "/tasks/{id}/assignees", assign_task),
    *task_items.ENDPOINTS,
]
