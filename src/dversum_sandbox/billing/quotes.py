"""Quotes (Angebote): numbered drafts, sending with a public signing link, signing, expiry, conversion.

The signing link `{base_url}/public/quotes/{token}` is the only unauthenticated way in: its
handlers find the quote by token alone and then act for the quote's organization. A `sweep`
at the start of every handler marks sent quotes past `valid_until` as expired (`quote.expired`
once). Conversion reuses the invoice module's draft creation, so totals are computed the same.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from dversum_sandbox.billing.invoice_store import (
    client_ref,
    format_date,
    insert_invoice,
    invoice_json,
    next_number,
    org_row,
    recipient,
    require_client,
    require_project,
    today,
)
from dversum_sandbox.billing.money import compute_totals, format_cents, parse_line_items
from dversum_sandbox.db import Row, loads
from dversum_sandbox.errors import bad_request, conflict, not_found, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id

__all__ = ["ENDPOINTS", "SCHEMA", "quote_json", "sweep"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS quotes (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, client_id TEXT NOT NULL, project_id TEXT, number TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'draft', title TEXT, issue_date TEXT NOT NULL, valid_until TEXT NOT NULL,
  line_items TEXT NOT NULL, tax_groups TEXT NOT NULL, total_net_cents INTEGER NOT NULL,
  total_tax_cents INTEGER NOT NULL, total_gross_cents INTEGER NOT NULL, notes TEXT, signing_token TEXT,
  sent_at TEXT, signed_at TEXT, signer_name TEXT, signer_email TEXT, rejected_at TEXT, rejection_reason TEXT,
  invoice_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS quotes_org_number ON quotes(org_id, number);
CREATE UNIQUE INDEX IF NOT EXISTS quotes_signing_token ON quotes(signing_token) WHERE signing_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS quotes_org_status ON quotes(org_id, status, valid_until);
"""

STATUSES = ("draft", "sent", "signed", "rejected", "expired", "converted")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MONEY_KEYS = ("line_items", "tax_groups", "total_net_cents", "total_tax_cents", "total_gross_cents")


def _signing_url(ctx: Ctx, token: str | None) -> str | None:
    return f"{ctx.base_url}/public/quotes/{token}" if token else None


def quote_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "status": row["status"],
        "title": row["title"],
        "client": client_ref(ctx, row["client_id"]),
        "client_id": row["client_id"],
        "project_id": row["project_id"],
        "issue_date": row["issue_date"],
        "valid_until": row["valid_until"],
        "currency": "EUR",
        **{k: loads(row[k]) if k in ("line_items", "tax_groups") else row[k] for k in _MONEY_KEYS},
        "notes": row["notes"],
        "signing_token": row["signing_token"],
        "signing_url": _signing_url(ctx, row["signing_token"]),
        "sent_at": row["sent_at"],
        "signed_at": row["signed_at"],
        "signer_name": row["signer_name"],
        "signer_email": row["signer_email"],
        "rejected_at": row["rejected_at"],
        "rejection_reason": row["rejection_reason"],
        "invoice_id": row["invoice_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _public_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    """What the signer sees: the offer itself, no internal ids or tokens."""
    return {
        "number": row["number"],
        "title": row["title"],
        "status": row["status"],
        "seller": {"name": org_row(ctx).get("name")},
        "client": {"name": client_ref(ctx, row["client_id"])["name"]},
        "valid_until": row["valid_until"],
        "currency": "EUR",
        **{k: loads(row[k]) if k in ("line_items", "tax_groups") else row[k] for k in _MONEY_KEYS},
        "notes": row["notes"],
        "signed_at": row["signed_at"],
        "signer_name": row["signer_name"],
        "can_sign": row["status"] == "sent",
    }


def sweep(ctx: Ctx) -> None:
    """Expire sent quotes whose `valid_until` has passed, emitting `quote.expired` once each."""
    rows = ctx.db.all(
        "SELECT * FROM quotes WHERE org_id = ? AND status = 'sent' AND valid_until < ? ORDER BY valid_until, id",
        (ctx.org_id, today(ctx).isoformat()),
    )
    for row in rows:
        ctx.db.update("quotes", row["id"], {"status": "expired", "updated_at": ctx.timestamp()})
        ctx.emit("quote.expired", quote_json(ctx, ctx.fetch("quotes", "quote", row["id"])))


def _load(ctx: Ctx) -> Row:
    sweep(ctx)
    return ctx.fetch("quotes", "quote")


def _locked(row: Row, action: str) -> Exception:
    reasons = {
        "signed": f"is signed by {row['signer_name']}; convert it to an invoice with convert_quote_to_invoice",
        "converted": f"was converted into invoice {row['invoice_id']}",
        "rejected": "was rejected by the client; create a new quote",
        "expired": f"expired on {row['valid_until']}; create a new quote",
    }
    return conflict(f"Quote {row['number']} {reasons[row['status']]}; it cannot be {action}", error="quote_locked")


def _valid_until(ctx: Ctx) -> Any:
    value = ctx.date_field("valid_until")
    if value is not MISSING and value < today(ctx):
        raise validation("valid_until", f"valid_until {value} lies in the past")
    return value


def _nullable(ctx: Ctx, name: str, reader: Any) -> Any:
    return None if name in ctx.body and ctx.body[name] is None else reader()


def list_quotes(ctx: Ctx) -> dict[str, Any]:
    sweep(ctx)
    where, params = "FROM quotes WHERE org_id = ?", [ctx.org_id]
    status = ctx.q_choice("status", STATUSES)
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    client_id = ctx.q_id("client_id")
    if client_id:
        where += " AND client_id = ?"
        params.append(client_id)
    return ctx.paginate("quotes", where, params, "created_at DESC, number DESC", lambda r: quote_json(ctx, r))


def create_quote(ctx: Ctx) -> dict[str, Any]:
    sweep(ctx)
    client_id = ctx.id_field("client_id", required=True)
    if ctx.body.get("line_items") is None:
        raise bad_request("line_items is required: at least one line", "line_items")
    totals = parse_line_items(ctx.body["line_items"])
    require_client(ctx, client_id)
    project_id = ctx.id_field("project_id")
    if project_id is not MISSING:
        require_project(ctx, project_id)
    title = ctx.string("title", max_length=300)
    notes = ctx.string("notes", max_length=5000, allow_empty=True)
    valid_until = _valid_until(ctx)
    day, now = today(ctx), ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "client_id": client_id,
        "project_id": None if project_id is MISSING else project_id,
        "number": next_number(ctx, "AN", day.year),
        "status": "draft",
        "title": None if title is MISSING else title,
        "issue_date": day.isoformat(),
        "valid_until": (day + timedelta(days=30) if valid_until is MISSING else valid_until).isoformat(),
        **totals.columns(),
        "notes": None if notes is MISSING else notes,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("quotes", row)
    data = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.created", data)
    return data


def get_quote(ctx: Ctx) -> dict[str, Any]:
    return quote_json(ctx, _load(ctx))


def update_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] not in ("draft", "sent"):
        raise _locked(row, "changed")
    changes: dict[str, Any] = {}
    client_id = ctx.id_field("client_id")
    if client_id is not MISSING:
        require_client(ctx, client_id)
        changes["client_id"] = client_id
    project_id = _nullable(ctx, "project_id", lambda: ctx.id_field("project_id"))
    if project_id not in (MISSING, None):
        require_project(ctx, project_id)
    if ctx.has("line_items"):
        changes.update(parse_line_items(ctx.body["line_items"]).columns())
    valid_until = _valid_until(ctx)
    fields = {
        "project_id": project_id,
        "title": _nullable(ctx, "title", lambda: ctx.string("title", max_length=300)),
        "notes": _nullable(ctx, "notes", lambda: ctx.string("notes", max_length=5000, allow_empty=True)),
        "valid_until": valid_until if valid_until is MISSING else valid_until.isoformat(),
    }
    changes.update({k: v for k, v in fields.items() if v is not MISSING})
    if not changes:
        return quote_json(ctx, row)
    changes["updated_at"] = ctx.timestamp()
    ctx.db.update("quotes", row["id"], changes)
    data = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.updated", data)
    return data


def delete_quote(ctx: Ctx) -> None:
    row = _load(ctx)
    if row["status"] in ("signed", "converted"):
        raise _locked(row, "deleted")
    data = quote_json(ctx, row)
    ctx.db.execute("DELETE FROM quotes WHERE id = ?", (row["id"],))
    ctx.emit("quote.deleted", data)


def _quote_mail(ctx: Ctx, row: Row, client: Row) -> None:
    seller = org_row(ctx).get("name") or "dVersum"
    name = client.get("contact_person") or client["name"]
    amount, valid = format_cents(int(row["total_gross_cents"]), ctx.lang), format_date(row["valid_until"], ctx.lang)
    about = f" „{row['title']}“" if row["title"] else ""
    url = _signing_url(ctx, row["signing_token"])
    if ctx.lang == "de":
        subject = f"Angebot {row['number']} von {seller}"
        body = (
            f"Guten Tag {name},\n\nanbei erhalten Sie unser Angebot {row['number']}{about} über {amount}, "
            f"gültig bis {valid}.\nSie können es hier ansehen und online verbindlich annehmen:\n{url}\n\n"
            f"Mit freundlichen Grüßen\n{seller}"
        )
    else:
        subject = f"Quote {row['number']} from {seller}"
        body = (
            f"Hello {name},\n\nplease find our quote {row['number']}{about} for {amount}, valid until {valid}.\n"
            f"You can review and accept it online here:\n{url}\n\nKind regards\n{seller}"
        )
    ctx.email(client["email"], subject, body, "quote", row["id"])


def send_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] not in ("draft", "sent"):
        raise _locked(row, "sent")
    if row["valid_until"] < today(ctx).isoformat():
        raise conflict(
            f"Quote {row['number']} was only valid until {row['valid_until']}; set a new valid_until with update_quote",
            field="valid_until",
            error="quote_expired",
        )
    client = recipient(ctx, row["client_id"])
    now = ctx.timestamp()
    token = row["signing_token"] or secrets.token_urlsafe(24)
    ctx.db.update("quotes", row["id"], {"status": "sent", "signing_token": token, "sent_at": now, "updated_at": now})
    sent = ctx.fetch("quotes", "quote", row["id"])
    _quote_mail(ctx, sent, client)
    data = quote_json(ctx, sent)
    ctx.emit("quote.sent", data)
    return data


def reject_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    reason = ctx.string("reason", max_length=2000, allow_empty=True)
    if row["status"] != "sent":
        if row["status"] == "draft":
            raise conflict(
                f"Quote {row['number']} is a draft; only sent quotes can be rejected", error="quote_not_sent"
            )
        raise _locked(row, "rejected")
    now = ctx.timestamp()
    ctx.db.update(
        "quotes",
        row["id"],
        {
            "status": "rejected",
            "rejected_at": now,
            "rejection_reason": None if reason is MISSING else reason,
            "updated_at": now,
        },
    )
    data = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.rejected", data)
    return data


def _by_token(ctx: Ctx) -> Row:
    """The quote behind a signing link; from here on the request acts for the quote's organization."""
    token = ctx.path.get("token", "")
    row = ctx.db.one("SELECT * FROM quotes WHERE signing_token = ?", (token,)) if _TOKEN.match(token) else None
    if row is None:
        raise not_found("quote", None)
    ctx.org_id = row["org_id"]
    sweep(ctx)
    return ctx.fetch("quotes", "quote", row["id"])


def public_quote(ctx: Ctx) -> dict[str, Any]:
    return _public_json(ctx, _by_token(ctx))


def sign_quote(ctx: Ctx) -> dict[str, Any]:
    row = _by_token(ctx)
    signer = ctx.string("signer_name", required=True, max_length=200)
    email = ctx.string("signer_email", max_length=320)
    if email is not MISSING and not _EMAIL.match(email):
        raise validation("signer_email", "signer_email must be an e-mail address")
    if row["status"] == "expired":
        raise conflict(
            f"Quote {row['number']} expired on {row['valid_until']}; ask for a new quote", error="quote_expired"
        )
    if row["status"] in ("signed", "converted"):
        raise conflict(f"Quote {row['number']} was already signed on {row['signed_at']}", error="already_signed")
    if row["status"] != "sent":
        raise conflict(f"Quote {row['number']} was rejected and can no longer be signed", error="quote_rejected")
    now = ctx.timestamp()
    ctx.db.update(
        "quotes",
        row["id"],
        {
            "status": "signed",
            "signed_at": now,
            "signer_name": signer.strip(),
            "signer_email": None if email is MISSING else email,
            "updated_at": now,
        },
    )
    signed = ctx.fetch("quotes", "quote", row["id"])
    ctx.emit("quote.signed", quote_json(ctx, signed))
    return _public_json(ctx, signed)


def convert_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] == "converted":
        raise conflict(
            f"Quote {row['number']} was already converted into invoice {row['invoice_id']}",
            error="already_converted",
        )
    if row["status"] != "signed":
        raise conflict(
            f"Quote {row['number']} is {row['status']}, not signed; only signed quotes become invoices "
            "(the client signs through the signing link sent with send_quote)",
            error="quote_not_signed",
        )
    require_client(ctx, row["client_id"])
    project = row["project_id"]
    if project and ctx.db.scalar("SELECT 1 FROM projects WHERE id = ? AND org_id = ?", (project, ctx.org_id)) is None:
        project = None
    invoice = insert_invoice(
        ctx,
        client_id=row["client_id"],
        totals=compute_totals(loads(row["line_items"])),
        project_id=project,
        notes=row["notes"],
        quote_id=row["id"],
    )
    ctx.db.update(
        "quotes", row["id"], {"status": "converted", "invoice_id": invoice["id"], "updated_at": ctx.timestamp()}
    )
    quote = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.converted", quote)
    return {"quote": quote, "invoice": invoice_json(ctx, invoice)}


ENDPOINTS = [
    Endpoint("GET", "/quotes", list_quotes),
    Endpoint("POST", "/quotes", create_quote, status=201),
    Endpoint("GET", "/quotes/{id}", get_quote),
    Endpoint("PUT", "/quotes/{id}", update_quote),
    Endpoint("DELETE", "/quotes/{id}", delete_quote),
    Endpoint("POST", "/quotes/{id}/send", send_quote),
    Endpoint("POST", "/quotes/{id}/reject", reject_quote),
    Endpoint("POST", "/quotes/{id}/convert-to-invoice", convert_quote, status=201),
    Endpoint("GET", "/public/quotes/{token}", public_quote, public=True),
    Endpoint("POST", "/public/quotes/{token}/sign", sign_quote, public=True),
]
