"""Webhook subscriptions, the event catalogue and the delivery log (delivery itself: webhook_delivery.py).

The signing secret is returned once, by `POST /webhooks`; every later answer says only
`has_secret`. Subscribing an external URL is allowed (the real API allows it); the sandbox
refuses only the delivery to it.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from dversum_sandbox.db import Row, dumps, loads
from dversum_sandbox.errors import bad_request, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.inputs import ensure_text
from dversum_sandbox.resources.webhook_delivery import WebhookSink

__all__ = ["ENDPOINTS", "EVENTS", "EVENT_GROUPS", "SCHEMA", "WebhookSink", "delivery_json", "webhook_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, url TEXT NOT NULL, events TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, description TEXT, secret TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_org ON webhooks(org_id, active);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, webhook_id TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_status_code INTEGER, last_error TEXT,
  next_attempt_at TEXT, created_at TEXT NOT NULL, delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_status ON webhook_deliveries(status);
"""

EVENT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Invoices", ("invoice.created", "invoice.updated", "invoice.sent", "invoice.paid", "invoice.partially_paid",
                  "invoice.overdue", "invoice.deleted")),
    ("Quotes", ("quote.created", "quote.updated", "quote.sent", "quote.signed", "quote.rejected", "quote.expired",
                "quote.converted", "quote.deleted")),
    ("Contracts", ("contract.created", "contract.signed", "contract.cancelled")),
    ("Reminders", ("reminder.sent",)),
    ("Clients", ("client.created", "client.updated", "client.deleted")),
    ("Projects", ("project.created", "project.updated", "project.archived", "project.deleted")),
    ("Tasks", ("task.created", "task.updated", "task.completed", "task.assigned", "task.moved", "task.deleted",
               "subtask.created", "subtask.completed", "subtask.deleted", "comment.created")),
    ("Time", ("time_entry.created", "time_entry.started", "time_entry.stopped", "time_entry.updated",
              "time_entry.deleted")),
    ("Pages", ("page.created", "page.updated", "page.deleted")),
    ("Absences", ("absence.created", "absence.updated", "absence.deleted")),
    ("Bookings", ("booking.created", "booking.cancelled", "booking.rescheduled")),
)  # fmt: skip
"""The reference's "Available events", in its order: 50 events across 11 resources."""
EVENTS = frozenset(event for _, events in EVENT_GROUPS for event in events)


def webhook_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "events": loads(row["events"]),
        "active": bool(row["active"]),
        "description": row["description"],
        "has_secret": True,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def delivery_json(row: Row) -> dict[str, Any]:
    keys = (
        "id", "webhook_id", "event", "status", "attempts", "last_status_code", "last_error", "next_attempt_at",
        "created_at", "delivered_at",
    )  # fmt: skip
    return {**{k: row[k] for k in keys}, "payload": loads(row["payload"])}


def _url(ctx: Ctx, required: bool) -> Any:
    value = ctx.string("url", required=required, max_length=2048)
    if value is MISSING:
        return MISSING
    value = value.strip()
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid or any(c.isspace() or ord(c) < 32 for c in value):
        raise validation("url", "url must be an http(s) URL, e.g. https://example.com/dversum-webhook")
    return value


def _events(ctx: Ctx, required: bool) -> Any:
    value = ctx.body.get("events")
    if value is None:
        if required:
            raise bad_request("events is required", "events")
        return MISSING
    if not isinstance(value, list) or not value:
        raise validation("events", "events must be a non-empty list of event names (see GET /webhooks/events)")
    for i, event in enumerate(value):
        if not isinstance(event, str) or event not in EVENTS:
            raise validation(f"events[{i}]", f"unknown event {event!r}; see GET /webhooks/events for the 50 events")
    return list(dict.fromkeys(value))


def _fields(ctx: Ctx, creating: bool) -> dict[str, Any]:
    ensure_text(ctx)
    out: dict[str, Any] = {}
    url, events = _url(ctx, creating), _events(ctx, creating)
    active, description = ctx.boolean("active"), ctx.string("description", max_length=2000, allow_empty=True)
    if url is not MISSING:
        out["url"] = url
    if events is not MISSING:
        out["events"] = dumps(events)
    if active is not MISSING:
        out["active"] = int(active)
    if description is not MISSING:
        out["description"] = description
    return out


def list_webhooks(ctx: Ctx) -> dict[str, Any]:
    return ctx.paginate("webhooks", "FROM webhooks WHERE org_id = ?", [ctx.org_id], "created_at, id", webhook_json)


def create_webhook(ctx: Ctx) -> dict[str, Any]:
    now = ctx.timestamp()
    row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "active": 1,
        "description": None,
        **_fields(ctx, creating=True),
        "secret": "whsec_" + secrets.token_urlsafe(32),
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("webhooks", row)
    return {**webhook_json(row), "secret": row["secret"]}


def get_webhook(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("webhooks", "webhook")
    counts = {
        r["status"]: r["n"]
        for r in ctx.db.all(
            "SELECT status, COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? GROUP BY status", (row["id"],)
        )
    }
    recent = ctx.db.all(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 5",
        (row["id"],),
    )
    return {
        **webhook_json(row),
        "delivery_counts": {s: counts.get(s, 0) for s in ("pending", "delivered", "failed")},
        "recent_deliveries": [delivery_json(r) for r in recent],
    }


def update_webhook(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("webhooks", "webhook")
    changes = _fields(ctx, creating=False)
    if changes:
        changes["updated_at"] = ctx.timestamp()
        ctx.db.update("webhooks", row["id"], changes)
    return webhook_json({**row, **changes})


def delete_webhook(ctx: Ctx) -> None:
    row = ctx.fetch("webhooks", "webhook")
    ctx.db.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (row["id"],))
    ctx.db.execute("DELETE FROM webhooks WHERE id = ?", (row["id"],))


def list_event_types(ctx: Ctx) -> dict[str, Any]:
    groups = [{"resource": name, "events": list(events)} for name, events in EVENT_GROUPS]
    return {"groups": groups, "total": len(EVENTS)}


def list_deliveries(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("webhooks", "webhook")
    where, params = "FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ?", [row["id"], ctx.org_id]
    status = ctx.q_choice("status", ("pending", "delivered", "failed"))
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    return ctx.paginate("deliveries", where, params, "created_at DESC, rowid DESC", delivery_json)


ENDPOINTS = [
    Endpoint("GET", "/webhooks", list_webhooks),
    Endpoint("POST", "/webhooks", create_webhook, status=201),
    Endpoint("GET", "/webhooks/events", list_event_types),
    Endpoint("GET", "/webhooks/{id}", get_webhook),
    Endpoint("PUT", "/webhooks/{id}", update_webhook),
    Endpoint("DELETE", "/webhooks/{id}", delete_webhook),
    Endpoint("GET", "/webhooks/{id}/deliveries", list_deliveries),
]
