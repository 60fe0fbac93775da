"""Absences (vacation, sick leave…) of the organization's users, by inclusive date range.

`days` counts the weekdays (Mon–Fri) the absence covers; a half-day absence on a single
weekday counts 0.5. Public holidays are not subtracted: the API has no holiday calendar.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dversum_sandbox.db import Row
from dversum_sandbox.errors import validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.util import check_users, optional_text, user_ref

__all__ = ["ENDPOINTS", "SCHEMA", "TYPES", "absence_json", "weekdays"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS absences (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, type TEXT NOT NULL,
  start_date TEXT NOT NULL, end_date TEXT NOT NULL, half_day INTEGER NOT NULL DEFAULT 0, note TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS absences_org_dates ON absences(org_id, start_date, end_date);
"""

TYPES = ("vacation", "sick", "parental", "training", "other")


def weekdays(start: date, end: date) -> int:
    """Mon–Fri days in [start, end], in O(1) (ranges may span centuries)."""
    if end < start:
        return 0
    total = (end - start).days + 1
    weeks, rest = divmod(total, 7)
    first = start.weekday()
    return weeks * 5 + sum(1 for i in range(rest) if (first + i) % 7 < 5)


def _days(row: Row) -> float | int:
    start, end = date.fromisoformat(row["start_date"]), date.fromisoformat(row["end_date"])
    count = weekdays(start, end)
    if row["half_day"] and start == end and count == 1:
        return 0.5
    return count


def absence_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "user": user_ref(ctx, row["user_id"]),
        "type": row["type"],
        "start_date": row["start_date"],
        "end_date": row["end_date"],
        "half_day": bool(row["half_day"]),
        "days": _days(row),
        "note": row["note"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _read_fields(ctx: Ctx, row: Row | None) -> dict[str, Any]:
    create = row is None
    start = ctx.date_field("start_date", required=create)
    end = ctx.date_field("end_date", required=create)
    values: dict[str, Any] = {
        "type": ctx.choice("type", TYPES, required=create),
        "start_date": MISSING if start is MISSING else start.isoformat(),
        "end_date": MISSING if end is MISSING else end.isoformat(),
        "user_id": ctx.id_field("user_id"),
        "half_day": ctx.boolean("half_day"),
        "note": optional_text(ctx, "note"),
    }
    if isinstance(values["half_day"], bool):
        values["half_day"] = int(values["half_day"])
    if isinstance(values["user_id"], str):
        check_users(ctx, [values["user_id"]], "user_id")
    values = {k: v for k, v in values.items() if v is not MISSING}
    merged = {**(row or {}), **values}
    if merged["end_date"] < merged["start_date"]:
        raise validation("end_date", "end_date must not be before start_date (both inclusive)")
    return values


def list_absences(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM absences WHERE org_id = ?", [ctx.org_id]
    start, end = ctx.q_date("from"), ctx.q_date("to")
    if start is not None and end is not None and end < start:
        raise validation("to", "to must not be before from")
    if start is not None:
        where += " AND end_date >= ?"
        params.append(start.isoformat())
    if end is not None:
        where += " AND start_date <= ?"
        params.append(end.isoformat())
    user_id = ctx.q_id("user_id")
    if user_id is not None:
        where += " AND user_id = ?"
        params.append(user_id)
    kind = ctx.q_choice("type", TYPES)
    if kind is not None:
        where += " AND type = ?"
        params.append(kind)
    return ctx.paginate("absences", where, params, "start_date, end_date, rowid", lambda r: absence_json(ctx, r))


def create_absence(ctx: Ctx) -> dict[str, Any]:
    values = _read_fields(ctx, None)
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "user_id": ctx.user_id,
        "half_day": 0,
        "note": None,
        **values,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("absences", row)
    out = absence_json(ctx, row)
    ctx.emit("absence.created", out)
    return out


def get_absence(ctx: Ctx) -> dict[str, Any]:
    return absence_json(ctx, ctx.fetch("absences", "absence"))


def update_absence(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("absences", "absence")
    values = _read_fields(ctx, row)
    values["updated_at"] = ctx.timestamp()
    return ctx.update_and_emit("absences", row, values, absence_json, "absence.updated")


def delete_absence(ctx: Ctx) -> None:
    row = ctx.fetch("absences", "absence")
    out = absence_json(ctx, row)
    ctx.db.execute("DELETE FROM absences WHERE id = ?", (row["id"],))
    ctx.emit("absence.deleted", out)


ENDPOINTS = [
    Endpoint("GET", "/absences", list_absences),
    Endpoint("POST", "/absences", create_absence, status=201),
    Endpoint("GET", "/absences/{id}", get_absence),
    Endpoint("PUT", "/absences/{id}", update_absence),
    Endpoint("DELETE", "/absences/{id}", delete_absence),
]
