"""What hangs off a task: subtasks (an ordered checklist) and comments (HTML, with the @vero reply).

The reference's `@vero` AI reply is simulated offline: a deterministic one-line summary of the
thread, posted as a second comment by the pseudo-user `vero`. Nothing leaves the machine.
"""

from __future__ import annotations

import html
import re
from typing import Any

from dversum_sandbox.db import Row
from dversum_sandbox.errors import forbidden, not_found
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.positions import compact, place
from dversum_sandbox.util import check_users, fixed_list, nullable, user_ref

__all__ = ["ENDPOINTS", "SCHEMA", "VERO", "subtasks_of"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS subtasks (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, task_id TEXT NOT NULL, title TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0, assignee_id TEXT, position INTEGER NOT NULL, completed_at TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subtasks_task ON subtasks(task_id, position);
CREATE TABLE IF NOT EXISTS task_comments (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, task_id TEXT NOT NULL, author_id TEXT NOT NULL,
  content TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_comments_task ON task_comments(task_id, created_at);
"""

VERO = {"id": "vero", "name": "Vero (AI)"}
_MENTION = re.compile(r"(?<![\w@])@vero\b", re.IGNORECASE)
_SCOPE = "task_id = ?"


# ---- subtasks -----------------------------------------------------------------------------------
def subtask_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "task_id": row["task_id"],
        "title": row["title"],
        "done": bool(row["done"]),
        "assignee_id": row["assignee_id"],
        "assignee": user_ref(ctx, row["assignee_id"]),
        "position": row["position"],
        "completed_at": row["completed_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def subtasks_of(ctx: Ctx, task_id: str) -> list[dict[str, Any]]:
    rows = ctx.db.all("SELECT * FROM subtasks WHERE task_id = ? ORDER BY position, rowid", (task_id,))
    return [subtask_json(ctx, r) for r in rows]


def _subtask(ctx: Ctx, task: Row) -> Row:
    subtask_id = ctx.path_id("subtaskId")
    row = ctx.fetch("subtasks", "subtask", subtask_id)
    if row["task_id"] != task["id"]:
        raise not_found("subtask", subtask_id)
    return row


def _assignee(ctx: Ctx) -> Any:
    value = nullable(ctx, "assignee_id", lambda: ctx.id_field("assignee_id"))
    if isinstance(value, str):
        check_users(ctx, [value], "assignee_id")
    return value


def list_subtasks(ctx: Ctx) -> dict[str, Any]:
    task = ctx.fetch("tasks", "task")
    return fixed_list("subtasks", subtasks_of(ctx, task["id"]))


def create_subtask(ctx: Ctx) -> dict[str, Any]:
    task = ctx.fetch("tasks", "task")
    title = ctx.string("title", required=True, max_length=300).strip()
    assignee = _assignee(ctx)
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "task_id": task["id"],
        "title": title,
        "done": 0,
        "assignee_id": None if assignee is MISSING else assignee,
        "position": 1_000_000_000,
        "completed_at": None,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("subtasks", row)
    row["position"] = place(ctx.db, "subtasks", _SCOPE, (task["id"],), row["id"], None)
    out = subtask_json(ctx, row)
    ctx.emit("subtask.created", out)
    return out


def update_subtask(ctx: Ctx) -> dict[str, Any]:
    task = ctx.fetch("tasks", "task")
    row = _subtask(ctx, task)
    title = ctx.string("title", max_length=300)
    done = ctx.boolean("done")
    assignee = _assignee(ctx)
    values: dict[str, Any] = {"updated_at": ctx.timestamp()}
    if title is not MISSING:
        values["title"] = title.strip()
    if assignee is not MISSING:
        values["assignee_id"] = assignee
    completed = done is True and not row["done"]
    if done is not MISSING and bool(done) != bool(row["done"]):
        values.update(done=int(done), completed_at=values["updated_at"] if done else None)
    return ctx.update_and_emit("subtasks", row, values, subtask_json, "subtask.completed" if completed else None)


def delete_subtask(ctx: Ctx) -> None:
    task = ctx.fetch("tasks", "task")
    row = _subtask(ctx, task)
    out = subtask_json(ctx, row)
    ctx.db.execute("DELETE FROM subtasks WHERE id = ?", (row["id"],))
    compact(ctx.db, "subtasks", _SCOPE, (task["id"],))
    ctx.emit("subtask.deleted", out)


# ---- comments -----------------------------------------------------------------------------------
def comment_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    author = VERO if row["author_id"] == VERO["id"] else user_ref(ctx, row["author_id"])
    return {
        "id": row["id"],
        "task_id": row["task_id"],
        "author": author or {"id": row["author_id"], "name": None},
        "content": row["content"],
        "created_at": row["created_at"],
    }


def _task(ctx: Ctx) -> Row:
    return ctx.fetch("tasks", "task", ctx.path_id("taskId"))


def list_comments(ctx: Ctx) -> dict[str, Any]:
    task = _task(ctx)
    return ctx.paginate(
        "comments",
        "FROM task_comments WHERE org_id = ? AND task_id = ?",
        [ctx.org_id, task["id"]],
        "created_at, rowid",
        lambda r: comment_json(ctx, r),
    )


def _vero_summary(ctx: Ctx, task: Row) -> str:
    """The offline stand-in for the AI reply: counts from the thread, deterministic, in the caller's language."""
    stats = ctx.db.one(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT author_id) AS people FROM task_comments "
        "WHERE task_id = ? AND author_id != ?",
        (task["id"], VERO["id"]),
    ) or {"n": 0, "people": 0}
    subs = ctx.db.one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(done), 0) AS d FROM subtasks WHERE task_id = ?", (task["id"],)
    ) or {"n": 0, "d": 0}
    title = html.escape(task["title"])
    if ctx.lang == "en":
        state = "done" if task["done"] else "open"
        due = f"; due {task['due_date']}" if task["due_date"] else ""
        return (
            f"<p>Summary: {stats['n']} comments by {stats['people']} people. Task “{title}” is {state}; "
            f"{subs['d']}/{subs['n']} subtasks done{due}.</p>"
        )
    state = "erledigt" if task["done"] else "offen"
    due = f"; fällig am {task['due_date']}" if task["due_date"] else ""
    return (
        f"<p>Zusammenfassung: {stats['n']} Kommentare von {stats['people']} Personen. Aufgabe „{title}“ ist {state}; "
        f"{subs['d']}/{subs['n']} Teilaufgaben erledigt{due}.</p>"
    )


def _insert_comment(ctx: Ctx, task: Row, author_id: str, content: str) -> dict[str, Any]:
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "task_id": task["id"],
        "author_id": author_id,
        "content": content,
        "created_at": ctx.timestamp(),
    }
    ctx.db.insert("task_comments", row)
    out = comment_json(ctx, row)
    ctx.emit("comment.created", out)
    return out


def create_comment(ctx: Ctx) -> dict[str, Any]:
    task = _task(ctx)
    content = ctx.string("content", required=True, max_length=20_000)
    out = _insert_comment(ctx, task, ctx.user_id, content)
    if _MENTION.search(content):
        out["vero_reply"] = _insert_comment(ctx, task, VERO["id"], _vero_summary(ctx, task))
    return out


def delete_comment(ctx: Ctx) -> None:
    task = _task(ctx)
    comment_id = ctx.path_id("commentId")
    row = ctx.fetch("task_comments", "comment", comment_id)
    if row["task_id"] != task["id"]:
        raise not_found("comment", comment_id)
    if row["author_id"] not in (ctx.user_id, VERO["id"]):
        raise forbidden("Only the author can delete this comment (Vero's replies may be deleted by anyone)")
    ctx.db.execute("DELETE FROM task_comments WHERE id = ?", (row["id"],))


ENDPOINTS = [
    Endpoint("GET", "/tasks/{id}/subtasks", list_subtasks),
    Endpoint("POST", "/tasks/{id}/subtasks", create_subtask, status=201),
    Endpoint("PUT", "/tasks/{id}/subtasks/{subtaskId}", update_subtask),
    Endpoint("DELETE", "/tasks/{id}/subtasks/{subtaskId}", delete_subtask),
    Endpoint("GET", "/tasks/{taskId}/comments", list_comments),
    Endpoint("POST", "/tasks/{taskId}/comments", create_comment, status=201),
    Endpoint("DELETE", "/tasks/{taskId}/comments/{commentId}", delete_comment),
]
