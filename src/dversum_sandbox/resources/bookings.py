"""Bookings: booking types, the public booking page (info, free slots, book), and bookings.

A booking type belongs to the user who created it; its public page is
`/public/booking/{user slug}/{type slug}`. Booking creates a row in `calendar_events` (the
host's calendar, shared with calendar.py), so the host's own events and earlier bookings both
block slots. Public requests carry no organization: handlers adopt the host's organization
before writing, e-mailing or emitting events.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dversum_sandbox.clock import BERLIN, iso, parse_datetime
from dversum_sandbox.db import Row, dumps, loads
from dversum_sandbox.errors import conflict, not_found, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.inputs import ensure_text, moment, required_moment
from dversum_sandbox.resources.accounts import DEFAULT_HOURS
from dversum_sandbox.resources.calendar import meet_url
from dversum_sandbox.resources.slots import check_slot, free_slots, parse_working_hours
from dversum_sandbox.util import is_email

__all__ = ["ENDPOINTS", "SCHEMA", "booking_json", "booking_type_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS booking_types (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, slug TEXT NOT NULL,
  duration_minutes INTEGER NOT NULL, description TEXT, buffer_minutes INTEGER NOT NULL DEFAULT 0,
  attach_meet INTEGER NOT NULL DEFAULT 0, working_hours TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (user_id, slug)
);
CREATE TABLE IF NOT EXISTS bookings (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, booking_type_id TEXT NOT NULL, user_id TEXT NOT NULL,
  start_time TEXT NOT NULL, end_time TEXT NOT NULL, guest_name TEXT NOT NULL, guest_email TEXT NOT NULL,
  agenda TEXT, timezone TEXT NOT NULL, status TEXT NOT NULL, calendar_event_id TEXT, meet_url TEXT,
  cancel_reason TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_host_time ON bookings(user_id, start_time);
"""

MAX_WINDOW = timedelta(days=90)
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# ---- JSON shapes ------------------------------------------------------------------------------
def booking_type_json(row: Row, base_url: str, user_slug: str | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "name": row["name"],
        "slug": row["slug"],
        "duration_minutes": row["duration_minutes"],
        "description": row["description"],
        "buffer_minutes": row["buffer_minutes"],
        "attach_meet": bool(row["attach_meet"]),
        "working_hours": loads(row["working_hours"]),
        "active": bool(row["active"]),
        "public_url": f"{base_url}/public/booking/{user_slug}/{row['slug']}" if user_slug else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def booking_json(row: Row) -> dict[str, Any]:
    keys = (
        "id", "booking_type_id", "user_id", "start_time", "end_time", "guest_name", "guest_email", "agenda",
        "timezone", "status", "calendar_event_id", "meet_url", "cancel_reason", "created_at", "updated_at",
    )  # fmt: skip
    return {k: row[k] for k in keys}


def _booking_detail(ctx: Ctx, row: Row) -> dict[str, Any]:
    """A booking as GET returns it: with its calendar event (also the webhook payload)."""
    event = None
    if row["calendar_event_id"]:
        found = ctx.db.one(
            "SELECT * FROM calendar_events WHERE id = ? AND org_id = ?", (row["calendar_event_id"], row["org_id"])
        )
        if found is not None:
            keys = ("id", "title", "start_time", "end_time", "meet_url")
            event = {k: found.get(k) for k in keys}
    return {**booking_json(row), "calendar_event": event}


def _type_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    slug = ctx.db.scalar("SELECT slug FROM users WHERE id = ?", (row["user_id"],))
    return booking_type_json(row, ctx.base_url, slug)


# ---- booking types ----------------------------------------------------------------------------
def _type_fields(ctx: Ctx, current: Row | None) -> dict[str, Any]:
    """Validated booking-type fields present in the body (all required ones when creating)."""
    ensure_text(ctx)
    creating = current is None
    out: dict[str, Any] = {}
    name = ctx.string("name", required=creating, max_length=200)
    if name is not MISSING:
        out["name"] = name.strip()
    slug = ctx.string("slug", required=creating, max_length=100)
    if slug is not MISSING:
        if not _SLUG.match(slug):
            raise validation("slug", "slug may contain only a-z, 0-9 and single hyphens, e.g. erstgespraech-30")
        owner = ctx.user_id if current is None else current["user_id"]
        clash = ctx.db.one(
            "SELECT id FROM booking_types WHERE user_id = ? AND slug = ? AND id != ?",
            (owner, slug, "" if current is None else current["id"]),
        )
        if clash is not None:
            raise conflict(
                f"You already have a booking type with slug '{slug}'; choose another slug or update that one",
                "slug",
                "duplicate_slug",
            )
        out["slug"] = slug
    duration = ctx.integer("duration_minutes", required=creating, minimum=5, maximum=480)
    if duration is not MISSING:
        out["duration_minutes"] = duration
    for key, value in (
        ("description", ctx.string("description", allow_empty=True)),
        ("buffer_minutes", ctx.integer("buffer_minutes", minimum=0, maximum=240)),
        ("attach_meet", ctx.boolean("attach_meet")),
        ("active", ctx.boolean("active")),
    ):
        if value is not MISSING:
            out[key] = int(value) if isinstance(value, bool) else value
    if ctx.has("working_hours"):
        out["working_hours"] = dumps(parse_working_hours(ctx.body["working_hours"]))
    return out


def list_booking_types(ctx: Ctx) -> dict[str, Any]:
    return ctx.paginate(
        "booking_types", "FROM booking_types WHERE org_id = ?", [ctx.org_id], "name, id", lambda r: _type_json(ctx, r)
    )


def create_booking_type(ctx: Ctx) -> dict[str, Any]:
    fields = _type_fields(ctx, None)
    if "working_hours" not in fields:
        owner = ctx.db.scalar("SELECT working_hours FROM users WHERE id = ?", (ctx.user_id,))
        fields["working_hours"] = owner or dumps(DEFAULT_HOURS)
    now = ctx.timestamp()
    row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "user_id": ctx.user_id,
        "description": None,
        "buffer_minutes": 0,
        "attach_meet": 0,
        "active": 1,
        **fields,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("booking_types", row)
    return _type_json(ctx, row)


def update_booking_type(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("booking_types", "booking type")
    fields = _type_fields(ctx, row)
    if fields:
        fields["updated_at"] = ctx.timestamp()
        ctx.db.update("booking_types", row["id"], fields)
    return _type_json(ctx, {**row, **fields})


def delete_booking_type(ctx: Ctx) -> None:
    row = ctx.fetch("booking_types", "booking type")
    ctx.db.execute("DELETE FROM booking_types WHERE id = ?", (row["id"],))


# ---- public booking page ----------------------------------------------------------------------
def _public_type(ctx: Ctx) -> tuple[Row, Row]:
    host = ctx.db.one("SELECT * FROM users WHERE slug = ?", (ctx.path["user_slug"],))
    btype = None
    if host is not None:
        btype = ctx.db.one(
            "SELECT * FROM booking_types WHERE user_id = ? AND slug = ? AND active = 1",
            (host["id"], ctx.path["type_slug"]),
        )
    if host is None or btype is None:
        raise not_found("booking page", f"{ctx.path['user_slug']}/{ctx.path['type_slug']}")
    return host, btype


def public_type(ctx: Ctx) -> dict[str, Any]:
    host, btype = _public_type(ctx)
    return {
        "name": btype["name"],
        "slug": btype["slug"],
        "duration_minutes": btype["duration_minutes"],
        "description": btype["description"],
        "host": {"name": host["name"]},
        "timezone": BERLIN.key,
    }


def public_slots(ctx: Ctx) -> dict[str, Any]:
    host, btype = _public_type(ctx)
    lo, hi = required_moment(ctx, "from", query=True), required_moment(ctx, "to", query=True)
    if hi <= lo:
        raise validation("to", "to must be after from")
    if hi - lo > MAX_WINDOW:
        raise validation("to", "the window from..to may span at most 90 days")
    duration = timedelta(minutes=btype["duration_minutes"])
    slots = [{"start": iso(s), "end": iso(s + duration)} for s in free_slots(ctx, host, btype, lo, hi)]
    return {"slots": slots, "timezone": BERLIN.key}


def _zone(ctx: Ctx) -> str:
    value = ctx.string("timezone", max_length=64)
    if value is MISSING:
        return BERLIN.key
    try:
        return ZoneInfo(value).key
    except Exception:  # ZoneInfoNotFoundError, ValueError, OSError: all mean "no such zone"
        raise validation("timezone", "timezone must be an IANA zone name, e.g. Europe/Berlin") from None


def _when(value: str, zone: str, lang: str) -> str:
    local = parse_datetime(value, "start").astimezone(ZoneInfo(zone))
    return local.strftime("%d.%m.%Y, %H:%M" if lang == "de" else "%Y-%m-%d %H:%M") + f" ({zone})"


def _notify(ctx: Ctx, booking: Row, host: Row, type_name: str, kind: str) -> None:
    """E-mail guest and host about a new, rescheduled or cancelled booking (outbox only)."""
    de = ctx.lang == "de"
    when = _when(booking["start_time"], booking["timezone"], ctx.lang)
    verb = {
        "created": ("bestätigt", "confirmed"),
        "rescheduled": ("verschoben", "rescheduled"),
        "cancelled": ("abgesagt", "cancelled"),
    }[kind][0 if de else 1]
    link = f"\n{booking['meet_url']}" if booking["meet_url"] and kind != "cancelled" else ""
    reason = f"\n{booking['cancel_reason']}" if booking["cancel_reason"] else ""
    subject = f"Termin {verb}: {type_name}, {when}" if de else f"Booking {verb}: {type_name}, {when}"
    if de:
        body = f"Hallo {booking['guest_name']},\n\nIhr Termin „{type_name}“ mit {host['name']} ist {verb}: {when}."
    else:
        body = f"Hello {booking['guest_name']},\n\nyour booking “{type_name}” with {host['name']} is {verb}: {when}."
    ctx.email(booking["guest_email"], subject, body + link + reason, "booking", booking["id"])
    host_body = f"{booking['guest_name']} <{booking['guest_email']}>: {when}{link}{reason}"
    if booking["agenda"]:
        host_body += f"\n\n{booking['agenda']}"
    ctx.email(host["email"], subject, host_body, "booking", booking["id"])


def _insert_event(ctx: Ctx, event_id: str, booking: Row, type_name: str) -> None:
    """The booking's event in the host's calendar (calendar.py's table, linked by booking_id)."""
    ctx.db.insert(
        "calendar_events",
        {
            "id": event_id,
            "org_id": booking["org_id"],
            "user_id": booking["user_id"],
            "title": f"{type_name}: {booking['guest_name']}",
            "description": booking["agenda"],
            "location": booking["meet_url"],
            "start_time": booking["start_time"],
            "end_time": booking["end_time"],
            "all_day": 0,
            "meet_url": booking["meet_url"],
            "attendee_emails": dumps([booking["guest_email"]]),
            "booking_id": booking["id"],
            "created_at": ctx.timestamp(),
            "updated_at": ctx.timestamp(),
        },
    )


def book_slot(ctx: Ctx) -> dict[str, Any]:
    host, btype = _public_type(ctx)
    ensure_text(ctx)
    ctx.org_id = host["org_id"]  # public request: act inside the host's organization from here on
    start = required_moment(ctx, "start")
    name = ctx.string("name", required=True, max_length=200).strip()
    email = ctx.string("email", required=True, max_length=254).strip()
    if not is_email(email):
        raise validation("email", "email must be an e-mail address like max@example.com")
    agenda = ctx.string("agenda", max_length=5000, allow_empty=True)
    zone = _zone(ctx)
    end = check_slot(ctx, host, btype, start)
    now, booking_id, event_id = ctx.timestamp(), new_id(), new_id()
    link = meet_url(event_id) if btype["attach_meet"] else None
    booking = {
        "id": booking_id,
        "org_id": host["org_id"],
        "booking_type_id": btype["id"],
        "user_id": host["id"],
        "start_time": iso(start),
        "end_time": iso(end),
        "guest_name": name,
        "guest_email": email,
        "agenda": None if agenda is MISSING else agenda,
        "timezone": zone,
        "status": "confirmed",
        "calendar_event_id": event_id,
        "meet_url": link,
        "cancel_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("bookings", booking)
    _insert_event(ctx, event_id, booking, btype["name"])
    _notify(ctx, booking, host, btype["name"], "created")
    detail = _booking_detail(ctx, booking)
    ctx.emit("booking.created", detail)
    return detail


# ---- bookings (authenticated) -----------------------------------------------------------------
def list_bookings(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM bookings WHERE org_id = ?", [ctx.org_id]
    lo, hi = moment(ctx, "from", query=True), moment(ctx, "to", query=True)
    if lo is not None:
        where += " AND end_time > ?"
        params.append(iso(lo))
    if hi is not None:
        where += " AND start_time < ?"
        params.append(iso(hi))
    status = ctx.q_choice("status", ("confirmed", "cancelled"))
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    return ctx.paginate("bookings", where, params, "start_time, id", booking_json)


def get_booking(ctx: Ctx) -> dict[str, Any]:
    return _booking_detail(ctx, ctx.fetch("bookings", "booking"))


def _confirmed(ctx: Ctx) -> tuple[Row, Row]:
    row = ctx.fetch("bookings", "booking")
    if row["status"] != "confirmed":
        raise conflict("This booking is already cancelled; book a new slot instead", error="booking_cancelled")
    host = ctx.db.one("SELECT * FROM users WHERE id = ?", (row["user_id"],))
    if host is None:
        raise conflict("The host of this booking no longer exists", error="host_missing")
    return row, host


def _type_name(ctx: Ctx, row: Row) -> str:
    name = ctx.db.scalar("SELECT name FROM booking_types WHERE id = ?", (row["booking_type_id"],))
    return str(name) if name is not None else "Termin"


def cancel_booking(ctx: Ctx) -> dict[str, Any]:
    ensure_text(ctx)
    row, host = _confirmed(ctx)
    reason = ctx.string("reason", max_length=2000)
    ctx.db.execute(
        "DELETE FROM calendar_events WHERE org_id = ? AND (id = ? OR booking_id = ?)",
        (ctx.org_id, row["calendar_event_id"] or "", row["id"]),
    )
    changes = {
        "status": "cancelled",
        "cancel_reason": None if reason is MISSING else reason,
        "calendar_event_id": None,
        "updated_at": ctx.timestamp(),
    }
    ctx.db.update("bookings", row["id"], changes)
    row = {**row, **changes}
    _notify(ctx, row, host, _type_name(ctx, row), "cancelled")
    detail = _booking_detail(ctx, row)
    ctx.emit("booking.cancelled", detail)
    return detail


def reschedule_booking(ctx: Ctx) -> dict[str, Any]:
    row, host = _confirmed(ctx)
    start = required_moment(ctx, "start")
    btype = ctx.db.one("SELECT * FROM booking_types WHERE id = ? AND org_id = ?", (row["booking_type_id"], ctx.org_id))
    if btype is None:
        raise conflict("The booking type of this booking was deleted; cancel it and book again", error="type_missing")
    end = check_slot(ctx, host, btype, start, ignore=row["id"])
    now = ctx.timestamp()
    times = {"start_time": iso(start), "end_time": iso(end), "updated_at": now}
    event = row["calendar_event_id"] and ctx.db.one(
        "SELECT id FROM calendar_events WHERE id = ? AND org_id = ?", (row["calendar_event_id"], ctx.org_id)
    )
    changes: dict[str, Any] = dict(times)
    if event:
        ctx.db.update("calendar_events", event["id"], times)
    else:  # the host deleted the event in the calendar: put it back at the new time
        changes["calendar_event_id"] = new_id()
        _insert_event(ctx, changes["calendar_event_id"], {**row, **times}, btype["name"])
    ctx.db.update("bookings", row["id"], changes)
    row = {**row, **changes}
    _notify(ctx, row, host, btype["name"], "rescheduled")
    detail = _booking_detail(ctx, row)
    ctx.emit("booking.rescheduled", detail)
    return detail


ENDPOINTS = [
    Endpoint("GET", "/public/booking/{user_slug}/{type_slug}", public_type, public=True),
    Endpoint("GET", "/public/booking/{user_slug}/{type_slug}/slots", public_slots, public=True),
    Endpoint("POST", "/public/booking/{user_slug}/{type_slug}/book", book_slot, public=True, status=201),
    Endpoint("GET", "/booking-types", list_booking_types),
    Endpoint("POST", "/booking-types", create_booking_type, status=201),
    Endpoint("PUT", "/booking-types/{id}", update_booking_type),
    Endpoint("DELETE", "/booking-types/{id}", delete_booking_type),
    Endpoint("GET", "/bookings", list_bookings),
    Endpoint("GET", "/bookings/{id}", get_booking),
    Endpoint("POST", "/bookings/{id}/cancel", cancel_booking),
    Endpoint("POST", "/bookings/{id}/reschedule", reschedule_booking),
]
