"""The sandbox outbox: e-mails the real service would send (invoices, quotes, bookings, reminders).

Sandbox-only endpoint `GET /sandbox/outbox`, newest first; nothing is ever sent on the network.
"""

from __future__ import annotations

from typing import Any

from dversum_sandbox.db import Row
from dversum_sandbox.framework import Ctx, Endpoint

__all__ = ["ENDPOINTS", "KINDS", "SCHEMA", "email_json"]

KINDS = ("invoice", "credit_note", "quote", "booking", "reminder")
SCHEMA = ""  # the outbox table is part of accounts.SCHEMA (Ctx.email writes it)


def email_json(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "to_addr", "subject", "body", "kind", "related_id", "created_at")}


def list_outbox(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM outbox WHERE org_id = ?", [ctx.org_id]
    kind = ctx.q_choice("kind", KINDS)
    if kind:
        where += " AND kind = ?"
        params.append(kind)
    return ctx.paginate("emails", where, params, "created_at DESC, rowid DESC", email_json)


ENDPOINTS = [Endpoint("GET", "/sandbox/outbox", list_outbox)]
