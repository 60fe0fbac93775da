"""Calendar events: CRUD and the window query, with an offline stand-in for Google Meet links.

bookings.py writes rows here too (with `booking_id`); such an event's time and existence
belong to its booking, so this module refuses to move or delete it. Calendar changes fire no
webhook events (the reference has none).
"""

from __future__ import annotations

import hashlib
from typing import Any

from dversum_sandbox.db import Row, dumps, loads
from dversum_sandbox.errors import conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.util import instant, is_email, nullable, optional_text, q_instant

__all__ = ["ENDPOINTS", "SCHEMA", "event_json", "meet_url"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS calendar_events (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, title TEXT NOT NULL, description TEXT,
  location TEXT, start_time TEXT NOT NULL, end_time TEXT NOT NULL, all_day INTEGER NOT NULL DEFAULT 0,
  meet_url TEXT, attendee_emails TEXT NOT NULL DEFAULT '[]', booking_id TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calendar_events_org_start ON calendar_events(org_id, start_time);
"""

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def meet_url(event_id: str) -> str:
    """A Meet-shaped link (abc-defg-hij) derived from the event id: stable, and no network involved."""
    digest = hashlib.sha256(event_id.encode()).digest()
    letters = "".join(_LETTERS[b % 26] for b in digest[:10])
    return f"https://meet.google.com/{letters[:3]}-{letters[3:7]}-{letters[7:10]}"


def event_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "title": row["title"],
        "description": row["description"],
        "location": row["location"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "all_day": bool(row["all_day"]),
        "meet_url": row["meet_url"],
        "attendee_emails": loads(row["attendee_emails"]) or [],
        "booking_id": row["booking_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _attendees(ctx: Ctx) -> Any:
    emails = nullable(ctx, "attendee_emails", lambda: ctx.string_list("attendee_emails"))
    if emails is MISSING:
        return MISSING
    cleaned = [e.strip() for e in emails or []]
    bad = [e for e in cleaned if not is_email(e)]
    if bad:
        raise validation("attendee_emails", f"attendee_emails: not an e-mail address: {', '.join(bad[:5])}")
    if len(cleaned) > 200:
        raise validation("attendee_emails", "attendee_emails may list at most 200 addresses")
    return dumps(list(dict.fromkeys(cleaned)))


def _read_fields(ctx: Ctx, row: Row | None) -> dict[str, Any]:
    create = row is None
    values: dict[str, Any] = {
        "title": ctx.string("title", required=create, max_length=300),
        "description": optional_text(ctx, "description", max_length=50_000),
        "location": optional_text(ctx, "location", max_length=500),
        "start_time": instant(ctx, "start_time", required=create),
        "end_time": instant(ctx, "end_time", required=create),
        "all_day": ctx.boolean("all_day"),
        "attendee_emails": _attendees(ctx),
    }
    if isinstance(values["title"], str):
        values["title"] = values["title"].strip()
    if isinstance(values["all_day"], bool):
        values["all_day"] = int(values["all_day"])
    values = {k: v for k, v in values.items() if v is not MISSING}
    merged = {**(row or {}), **values}
    if merged["end_time"] <= merged["start_time"]:
        raise validation("end_time", "end_time must be after start_time")
    return values


def list_events(ctx: Ctx) -> dict[str, Any]:
    start, end = q_instant(ctx, "from", required=True), q_instant(ctx, "to", required=True)
    if start is None or end is None or start >= end:
        raise validation("to", "to must be after from")
    return ctx.paginate(
        "events",
        "FROM calendar_events WHERE org_id = ? AND start_time < ? AND end_time > ?",
        [ctx.org_id, end, start],
        "start_time, end_time, rowid",
        event_json,
    )


def create_event(ctx: Ctx) -> dict[str, Any]:
    values = _read_fields(ctx, None)
    attach = ctx.boolean("attach_meet")
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "user_id": ctx.user_id,
        "description": None,
        "location": None,
        "all_day": 0,
        "attendee_emails": "[]",
        "booking_id": None,
        **values,
        "created_at": now,
        "updated_at": now,
    }
    row["meet_url"] = meet_url(row["id"]) if attach is True else None
    ctx.db.insert("calendar_events", row)
    return event_json(row)


def get_event(ctx: Ctx) -> dict[str, Any]:
    return event_json(ctx.fetch("calendar_events", "event"))


def _booking_conflict(row: Row, action: str) -> None:
    if row["booking_id"] is not None:
        raise conflict(
            f"Event {row['id']} belongs to booking {row['booking_id']}; {action} the booking instead",
            error="event_from_booking",
        )


def update_event(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("calendar_events", "event")
    values = _read_fields(ctx, row)
    if any(k in values and values[k] != row[k] for k in ("start_time", "end_time")):
        _booking_conflict(row, "reschedule")
    attach = ctx.boolean("attach_meet")
    if attach is True and row["meet_url"] is None:
        values["meet_url"] = meet_url(row["id"])
    elif attach is False:
        values["meet_url"] = None
    values["updated_at"] = ctx.timestamp()
    ctx.db.update("calendar_events", row["id"], values)
    return event_json({**row, **values})


def delete_event(ctx: Ctx) -> None:
    row = ctx.fetch("calendar_events", "event")
    _booking_conflict(row, "cancel")
    ctx.db.execute("DELETE FROM calendar_events WHERE id = ?", (row["id"],))


ENDPOINTS = [
    Endpoint("GET", "/calendar/events", list_events),
    Endpoint("POST", "/calendar/events", create_event, status=201),
    Endpoint("GET", "/calendar/events/{id}", get_event),
    Endpoint("PUT", "/calendar/events/{id}", update_event),
    Endpoint("DELETE", "/calendar/events/{id}", delete_event),
]
