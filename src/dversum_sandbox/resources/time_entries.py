"""Time entries: timers (start/stop/running) and entries logged after the fact, per task or project.

A running entry has `ended_at` NULL; each user has at most one. Starting a second one answers
409 `timer_running` naming the running entry: whether to stop it first is the caller's choice
(the MCP server's start_timer hook switches by default). Times are stored as ISO 8601 UTC
strings with second precision, so string order is time order.
"""

from __future__ import annotations

from typing import Any

from dversum_sandbox.clock import parse_datetime
from dversum_sandbox.db import Row
from dversum_sandbox.errors import SandboxError, bad_request, conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.util import instant, nullable, optional_text, q_instant, ref

__all__ = ["ENDPOINTS", "SCHEMA", "time_entry_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS time_entries (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, task_id TEXT, project_id TEXT NOT NULL,
  description TEXT, started_at TEXT NOT NULL, ended_at TEXT, billable INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS time_entries_org_start ON time_entries(org_id, started_at);
CREATE INDEX IF NOT EXISTS time_entries_user_running ON time_entries(user_id, ended_at);
"""


def _seconds(start: str, end: str) -> int:
    delta = parse_datetime(end, "ended_at") - parse_datetime(start, "started_at")
    return max(0, int(delta.total_seconds()))


def time_entry_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    running = row["ended_at"] is None
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "task_id": row["task_id"],
        "project_id": row["project_id"],
        "description": row["description"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "running": running,
        "duration_seconds": _seconds(row["started_at"], ctx.timestamp() if running else row["ended_at"]),
        "billable": bool(row["billable"]),
        "project": _named(ctx, "SELECT id, name FROM projects WHERE id = ? AND org_id = ?", row["project_id"]),
        "task": _named(ctx, "SELECT id, title AS name FROM tasks WHERE id = ? AND org_id = ?", row["task_id"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _named(ctx: Ctx, sql: str, row_id: str | None) -> dict[str, Any] | None:
    """`{id, name}` of the entry's project/task, so timesheets read without extra lookups."""
    if row_id is None:
        return None
    found = ctx.db.one(sql, (row_id, ctx.org_id))
    return {"id": found["id"], "name": found["name"]} if found else None


def _running_of(ctx: Ctx, user_id: str) -> Row | None:
    return ctx.db.one(
        "SELECT * FROM time_entries WHERE org_id = ? AND user_id = ? AND ended_at IS NULL ORDER BY started_at LIMIT 1",
        (ctx.org_id, user_id),
    )


def _target(ctx: Ctx, task_id: Any, project_id: Any) -> tuple[str | None, str]:
    """(task_id, project_id) from the body: a task decides the project; a project alone is allowed."""
    if isinstance(task_id, str):
        task = ref(ctx, "tasks", "task_id", task_id, "task")
        if isinstance(project_id, str) and project_id != task["project_id"]:
            raise validation(
                "project_id",
                f"task {task_id} belongs to project {task['project_id']}; "
                "omit project_id, match it, or set task_id to another task (or null)",
            )
        return task_id, task["project_id"]
    if isinstance(project_id, str):
        ref(ctx, "projects", "project_id", project_id, "project")
        return None, project_id
    raise bad_request("task_id or project_id is required", "task_id")


def _overlaps(ctx: Ctx, row: Row) -> list[str]:
    end = row["ended_at"] or ctx.timestamp()
    rows = ctx.db.all(
        "SELECT id FROM time_entries WHERE org_id = ? AND user_id = ? AND id != ? AND started_at < ? "
        "AND COALESCE(ended_at, ?) > ? ORDER BY started_at, rowid",
        (ctx.org_id, row["user_id"], row["id"], end, ctx.timestamp(), row["started_at"]),
    )
    return [r["id"] for r in rows]


def _timer_running(entry: Row) -> SandboxError:
    return conflict(
        f"Timer {entry['id']} is already running (since {entry['started_at']}); "
        f"stop it with POST /time-entries/{entry['id']}/stop first",
        error="timer_running",
    )


def start_timer(ctx: Ctx) -> dict[str, Any]:
    task_id = ctx.id_field("task_id", required=True)
    description = optional_text(ctx, "description")
    billable = ctx.boolean("billable")
    task = ref(ctx, "tasks", "task_id", task_id, "task")
    running = _running_of(ctx, ctx.user_id)
    if running is not None:
        raise _timer_running(running)
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "user_id": ctx.user_id,
        "task_id": task_id,
        "project_id": task["project_id"],
        "description": None if description is MISSING else description,
        "started_at": now,
        "ended_at": None,
        "billable": int(billable is not False),
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("time_entries", row)
    out = time_entry_json(ctx, row)
    ctx.emit("time_entry.started", out)
    return out


def stop_timer(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("time_entries", "time entry")
    if row["ended_at"] is not None:
        raise conflict(
            f"Time entry {row['id']} is not running (it ended at {row['ended_at']}); nothing to stop",
            error="timer_not_running",
        )
    now = ctx.timestamp()
    values = {"ended_at": max(now, row["started_at"]), "updated_at": now}
    return ctx.update_and_emit("time_entries", row, values, time_entry_json, "time_entry.stopped")


def get_running(ctx: Ctx) -> dict[str, Any]:
    row = _running_of(ctx, ctx.user_id)
    if row is None:
        raise SandboxError(404, "no_running_timer", "No timer is running")
    return time_entry_json(ctx, row)


def create_entry(ctx: Ctx) -> dict[str, Any]:
    started = instant(ctx, "started_at", required=True)
    ended = instant(ctx, "ended_at", required=True)
    if ended <= started:
        raise validation("ended_at", "ended_at must be after started_at")
    task_id, project_id = _target(ctx, ctx.id_field("task_id"), ctx.id_field("project_id"))
    description = optional_text(ctx, "description")
    billable = ctx.boolean("billable")
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "user_id": ctx.user_id,
        "task_id": task_id,
        "project_id": project_id,
        "description": None if description is MISSING else description,
        "started_at": started,
        "ended_at": ended,
        "billable": int(billable is not False),
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("time_entries", row)
    out = time_entry_json(ctx, row)
    ctx.emit("time_entry.created", out)
    return {**out, "overlaps": _overlaps(ctx, row)}


def list_entries(ctx: Ctx) -> dict[str, Any]:
    where = "FROM time_entries WHERE org_id = ?"
    params: list[Any] = [ctx.org_id]
    for name, op in (("from", ">="), ("to", "<")):
        value = q_instant(ctx, name)
        if value is not None:
            where += f" AND started_at {op} ?"
            params.append(value)
    for name in ("project_id", "task_id", "user_id"):
        ident = ctx.q_id(name)
        if ident is not None:
            where += f" AND {name} = ?"
            params.append(ident)
    billable = ctx.q_bool("billable")
    if billable is not None:
        where += " AND billable = ?"
        params.append(int(billable))
    return ctx.paginate("time_entries", where, params, "started_at, rowid", lambda r: time_entry_json(ctx, r))


def get_entry(ctx: Ctx) -> dict[str, Any]:
    return time_entry_json(ctx, ctx.fetch("time_entries", "time entry"))


def update_entry(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("time_entries", "time entry")
    values: dict[str, Any] = {}
    started = instant(ctx, "started_at")
    ended = instant(ctx, "ended_at")
    if ended is not MISSING and row["ended_at"] is None:
        raise conflict(
            f"Time entry {row['id']} is still running; stop it with POST /time-entries/{row['id']}/stop "
            "instead of setting ended_at",
            "ended_at",
            "timer_running",
        )
    if started is not MISSING:
        values["started_at"] = started
    if ended is not MISSING:
        values["ended_at"] = ended
    merged = {**row, **values}
    if merged["ended_at"] is None and merged["started_at"] > ctx.timestamp():
        raise validation("started_at", "a running timer cannot start in the future")
    if merged["ended_at"] is not None and merged["ended_at"] <= merged["started_at"]:
        raise validation("ended_at" if ended is not MISSING else "started_at", "ended_at must be after started_at")
    task_in = nullable(ctx, "task_id", lambda: ctx.id_field("task_id"))
    project_in = ctx.id_field("project_id")
    if task_in is not MISSING or project_in is not MISSING:
        task_id = row["task_id"] if task_in is MISSING else task_in
        project_id = project_in if project_in is not MISSING else (row["project_id"] if task_id is None else None)
        values["task_id"], values["project_id"] = _target(ctx, task_id, project_id)
    description = optional_text(ctx, "description")
    if description is not MISSING:
        values["description"] = description
    billable = ctx.boolean("billable")
    if billable is not MISSING:
        values["billable"] = int(billable)
    values["updated_at"] = ctx.timestamp()
    return ctx.update_and_emit("time_entries", row, values, time_entry_json, "time_entry.updated")


def delete_entry(ctx: Ctx) -> None:
    row = ctx.fetch("time_entries", "time entry")
    out = time_entry_json(ctx, row)
    ctx.db.execute("DELETE FROM time_entries WHERE id = ?", (row["id"],))
    ctx.emit("time_entry.deleted", out)


ENDPOINTS = [
    Endpoint("GET", "/time-entries", list_entries),
    Endpoint("POST", "/time-entries", create_entry, status=201),
    Endpoint("POST", "/time-entries/start", start_timer, status=201),
    Endpoint("GET", "/time-entries/running", get_running),
    Endpoint("GET", "/time-entries/{id}", get_entry),
    Endpoint("PUT", "/time-entries/{id}", update_entry),
    Endpoint("DELETE", "/time-entries/{id}", delete_entry),
    Endpoint("POST", "/time-entries/{id}/stop", stop_timer),
]
