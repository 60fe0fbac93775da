"""Projects and their kanban columns: CRUD, status, and the board's column order.

A new project gets the columns To do / In progress / Done (Done counts as done). Column
positions are dense 0..n-1 within a project. Deleting a project removes what only exists
inside it: columns, tasks (with subtasks, comments, assignees) and time entries; pages stay
and lose the project link.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from dversum_sandbox.db import Row
from dversum_sandbox.errors import conflict, not_found, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.positions import compact, place
from dversum_sandbox.resources.task_rows import relocate, task_json
from dversum_sandbox.util import color_field, fixed_list, nullable, optional_text, ref, search_clause

__all__ = ["ENDPOINTS", "SCHEMA", "column_json", "project_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, client_id TEXT, name TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active', color TEXT, description TEXT, start_date TEXT, end_date TEXT,
  budget_cents INTEGER, hourly_rate_cents INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_org_client ON projects(org_id, client_id);
CREATE TABLE IF NOT EXISTS project_columns (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL,
  position INTEGER NOT NULL, is_done_column INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS project_columns_project ON project_columns(project_id, position);
"""

STATUSES = ("active", "on_hold", "archived")
DEFAULT_COLUMNS = (("To do", False), ("In progress", False), ("Done", True))
_COLUMNS_SCOPE = "project_id = ?"


def column_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "name": row["name"],
        "position": row["position"],
        "is_done_column": bool(row["is_done_column"]),
        "task_count": ctx.db.scalar("SELECT COUNT(*) FROM tasks WHERE column_id = ?", (row["id"],)),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def project_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    client = None
    if row["client_id"] is not None:
        client = ctx.db.one("SELECT id, name FROM clients WHERE id = ? AND org_id = ?", (row["client_id"], ctx.org_id))
    return {
        "id": row["id"],
        "name": row["name"],
        "client_id": row["client_id"],
        "client": client,
        "status": row["status"],
        "archived": row["status"] == "archived",
        **{k: row[k] for k in ("color", "description", "start_date", "end_date", "budget_cents", "hourly_rate_cents")},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _columns(ctx: Ctx, project_id: str) -> list[dict[str, Any]]:
    rows = ctx.db.all("SELECT * FROM project_columns WHERE project_id = ? ORDER BY position, rowid", (project_id,))
    return [column_json(ctx, r) for r in rows]


def project_detail(ctx: Ctx, row: Row) -> dict[str, Any]:
    counts = ctx.db.one(
        "SELECT COALESCE(SUM(done = 0), 0) AS open, COALESCE(SUM(done), 0) AS done FROM tasks WHERE project_id = ?",
        (row["id"],),
    ) or {"open": 0, "done": 0}
    return {**project_json(ctx, row), "columns": _columns(ctx, row["id"]), "task_counts": counts}


def _read_fields(ctx: Ctx, row: Row | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": ctx.string("name", required=row is None, max_length=200),
        "client_id": nullable(ctx, "client_id", lambda: ctx.id_field("client_id")),
        "color": color_field(ctx),
        "description": optional_text(ctx, "description", max_length=50_000),
    }
    for name in ("start_date", "end_date"):
        day = nullable(ctx, name, partial(ctx.date_field, name))
        values[name] = day.isoformat() if day not in (MISSING, None) else day
    for name in ("budget_cents", "hourly_rate_cents"):
        values[name] = nullable(ctx, name, partial(ctx.integer, name, minimum=0, maximum=10**15))
    values = {k: v for k, v in values.items() if v is not MISSING}
    if isinstance(values.get("name"), str):
        values["name"] = values["name"].strip()
    if values.get("client_id") is not None:
        ref(ctx, "clients", "client_id", values["client_id"], "client")
    merged = {**(row or {}), **values}
    if merged.get("start_date") and merged.get("end_date") and merged["end_date"] < merged["start_date"]:
        raise validation("end_date", "end_date must not be before start_date")
    return values


def list_projects(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM projects WHERE org_id = ?", [ctx.org_id]
    archived = ctx.q_bool("archived")
    if archived is not None:
        where += " AND status = 'archived'" if archived else " AND status != 'archived'"
    client_id = ctx.q_id("client_id")
    if client_id is not None:
        where += " AND client_id = ?"
        params.append(client_id)
    search = ctx.q("search")
    if search:
        clause, extra = search_clause(ctx, ["name"], search)
        where += clause
        params += extra
    return ctx.paginate("projects", where, params, "name COLLATE NOCASE, rowid", lambda r: project_json(ctx, r))


def create_project(ctx: Ctx) -> dict[str, Any]:
    values = _read_fields(ctx, None)
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "client_id": None,
        "status": "active",
        **dict.fromkeys(("color", "description", "start_date", "end_date", "budget_cents", "hourly_rate_cents")),
        **values,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("projects", row)
    for position, (name, done) in enumerate(DEFAULT_COLUMNS):
        ctx.db.insert(
            "project_columns",
            {
                "id": new_id(),
                "org_id": ctx.org_id,
                "project_id": row["id"],
                "name": name,
                "position": position,
                "is_done_column": int(done),
                "created_at": now,
                "updated_at": now,
            },
        )
    out = project_detail(ctx, row)
    ctx.emit("project.created", out)
    return out


def get_project(ctx: Ctx) -> dict[str, Any]:
    return project_detail(ctx, ctx.fetch("projects", "project"))


def _touch(ctx: Ctx, row: Row, values: dict[str, Any]) -> dict[str, Any]:
    values["updated_at"] = ctx.timestamp()
    ctx.db.update("projects", row["id"], values)
    return project_detail(ctx, {**row, **values})


def update_project(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("projects", "project")
    out = _touch(ctx, row, _read_fields(ctx, row))
    ctx.emit("project.updated", out)
    return out


def set_status(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("projects", "project")
    status = ctx.choice("status", STATUSES, required=True)
    if status == row["status"]:
        return project_detail(ctx, row)
    out = _touch(ctx, row, {"status": status})
    ctx.emit("project.updated", out)
    if status == "archived":
        ctx.emit("project.archived", out)
    return out


def delete_project(ctx: Ctx) -> None:
    row = ctx.fetch("projects", "project")
    out = project_detail(ctx, row)
    params = (row["id"], ctx.org_id)
    in_project = "task_id IN (SELECT id FROM tasks WHERE project_id = ? AND org_id = ?)"
    for table in ("task_assignees", "subtasks", "task_comments"):
        ctx.db.execute(f"DELETE FROM {table} WHERE {in_project}", params)  # noqa: S608
    for table in ("tasks", "project_columns", "time_entries"):
        ctx.db.execute(f"DELETE FROM {table} WHERE project_id = ? AND org_id = ?", params)  # noqa: S608
    ctx.db.execute("UPDATE pages SET project_id = NULL WHERE project_id = ? AND org_id = ?", params)
    ctx.db.execute("DELETE FROM projects WHERE id = ?", (row["id"],))
    ctx.emit("project.deleted", out)


# ---- kanban columns ---------------------------------------------------------------------------
def _own_column(ctx: Ctx, project: Row) -> Row:
    column_id = ctx.path_id("columnId")
    row = ctx.fetch("project_columns", "column", column_id)
    if row["project_id"] != project["id"]:
        raise not_found("column", column_id)
    return row


def list_columns(ctx: Ctx) -> dict[str, Any]:
    project = ctx.fetch("projects", "project")
    return fixed_list("columns", _columns(ctx, project["id"]))


def _project_changed(ctx: Ctx, project: Row) -> None:
    ctx.emit("project.updated", _touch(ctx, project, {}))


def create_column(ctx: Ctx) -> dict[str, Any]:
    project = ctx.fetch("projects", "project")
    name = ctx.string("name", required=True, max_length=100).strip()
    position = ctx.integer("position", minimum=0)
    done = ctx.boolean("is_done_column")
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "project_id": project["id"],
        "name": name,
        "position": 1_000_000_000,
        "is_done_column": int(done is True),
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("project_columns", row)
    row["position"] = place(
        ctx.db,
        "project_columns",
        _COLUMNS_SCOPE,
        (project["id"],),
        row["id"],
        None if position is MISSING else position,
    )
    _project_changed(ctx, project)
    return column_json(ctx, row)


def update_column(ctx: Ctx) -> dict[str, Any]:
    project = ctx.fetch("projects", "project")
    row = _own_column(ctx, project)
    name = ctx.string("name", max_length=100)
    position = ctx.integer("position", minimum=0)
    done = ctx.boolean("is_done_column")
    values: dict[str, Any] = {"updated_at": ctx.timestamp()}
    if name is not MISSING:
        values["name"] = name.strip()
    if done is not MISSING:
        values["is_done_column"] = int(done)
    ctx.db.update("project_columns", row["id"], values)
    row = {**row, **values}
    if position is not MISSING:
        row["position"] = place(ctx.db, "project_columns", _COLUMNS_SCOPE, (project["id"],), row["id"], position)
    _project_changed(ctx, project)
    return column_json(ctx, row)


def delete_column(ctx: Ctx) -> None:
    project = ctx.fetch("projects", "project")
    row = _own_column(ctx, project)
    target_id = ctx.q_id("move_tasks_to")
    tasks = ctx.db.all("SELECT * FROM tasks WHERE column_id = ? ORDER BY position, rowid", (row["id"],))
    target: Row | None = None
    if target_id is not None:
        target = ctx.db.one(
            "SELECT * FROM project_columns WHERE id = ? AND project_id = ? AND org_id = ?",
            (target_id, project["id"], ctx.org_id),
        )
        if target is None or target_id == row["id"]:
            raise validation("move_tasks_to", "move_tasks_to must be another column of the same project")
    if tasks and target is None:
        raise conflict(
            f"Column {row['name']!r} still holds {len(tasks)} task(s); pass move_tasks_to=<column id> "
            "to move them, or delete or move the tasks first",
            "move_tasks_to",
            "column_not_empty",
        )
    for task in tasks:
        assert target is not None
        moved, became_done = relocate(ctx, task, target, None)
        out = task_json(ctx, moved)
        ctx.emit("task.moved", out)
        if became_done:
            ctx.emit("task.completed", out)
    ctx.db.execute("DELETE FROM project_columns WHERE id = ?", (row["id"],))
    compact(ctx.db, "project_columns", _COLUMNS_SCOPE, (project["id"],))
    _project_changed(ctx, project)


ENDPOINTS = [
    Endpoint("GET", "/projects", list_projects),
    Endpoint("POST", "/projects", create_project, status=201),
    Endpoint("GET", "/projects/{id}", get_project),
    Endpoint("PUT", "/projects/{id}", update_project),
    Endpoint("DELETE", "/projects/{id}", delete_project),
    Endpoint("PATCH", "/projects/{id}/status", set_status),
    Endpoint("GET", "/projects/{id}/columns", list_columns),
    Endpoint("POST", "/projects/{id}/columns", create_column, status=201),
    Endpoint("PUT", "/projects/{id}/columns/{columnId}", update_column),
    Endpoint("DELETE", "/projects/{id}/columns/{columnId}", delete_column),
]
